from maghub.cli.app import main

main()
