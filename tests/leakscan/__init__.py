"""Secret-leak scanning for any suite: ``capture`` collects log records, ``scanner`` looks for
secrets in every encoding they could take on the way out."""
