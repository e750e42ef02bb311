from retrieval.main import main

main()
