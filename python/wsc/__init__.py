"""wsc: readers, figures and reports for the outputs of the wsc executable."""
