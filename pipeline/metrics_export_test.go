package pipeline

// FireDrop drops a finished job's series now, as its grace period ending
// would, and reports whether a drop was pending.
func (m *Metrics) FireDrop(job string) bool {
	m.mu.Lock()
	t, ok := m.drops[job]
	m.mu.Unlock()
	if !ok || !t.Stop() {
		return false
	}
	m.drop(job)
	return true
}
