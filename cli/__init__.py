"""The ``mgbp-classic`` command-line application (installed as ``mgbp_classic_cli``)."""
