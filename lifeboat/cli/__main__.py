from lifeboat.cli.main import main

main()
