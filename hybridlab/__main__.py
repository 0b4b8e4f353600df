from hybridlab.cli import main

main()
