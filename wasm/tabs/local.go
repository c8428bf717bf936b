package tabs

// Local returns the service this tab carries calls out on while it is the
// writer and its profile is open; nil in a follower. A caller may use it
// for what JSON carries badly (a file's bytes), and must fall back to Do
// when it is nil.
func (t *Tab) Local() Service {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.closed || t.writer != t.self {
		return nil
	}
	return t.svc
}
