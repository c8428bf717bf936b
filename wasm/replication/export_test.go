package replication

// SetLimits lowers MaxServe and MaxBooks for session s, so that a test
// reaches them without a million pages or 65,536 books. Call it before Run.
func SetLimits(s *Session, maxServe uint64, maxBooks int) {
	s.maxServe, s.maxBooks = maxServe, maxBooks
}
