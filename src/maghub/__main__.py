from maghub.cli import main

main()
