"""AI generation (SPEC §11): multi-turn design conversations for graphs and MCP tools, the tag
protocol their replies follow, the prompt templates (``templates/``), and the finish command."""
