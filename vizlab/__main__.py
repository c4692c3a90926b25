"""`python -m vizlab`: the same as the `vizlab` command."""

# Experiment processes start from a forkserver, which imports this module again under
# another name (__mp_main__): only a real `python -m vizlab` may run the command.
if __name__ == "__main__":
    import sys

    from vizlab.cli import main

    sys.exit(main())
