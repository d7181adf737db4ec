"""The booking domain: the office, its seat book, booking codes, NIKs, the counter, releases,
events and the audit log, with their message catalogs and the demo office."""
