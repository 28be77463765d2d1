"""Running graphs: ``scheduler`` (the SPEC §6 dataflow rules, no I/O), ``engine`` (one turn), ``prompting``,
``results``, ``run_store`` (persistence), ``runs`` (the run manager), ``events`` and ``ordering``."""
