package pipeline

import "testing"

// TestCallSize: embed calls cut the window into equal calls of at most
// MaxBatch texts, so the whole window's budget can be spent.
func TestCallSize(t *testing.T) {
	for _, c := range []struct{ count, want int }{
		{2000, 95}, // 21 calls of 95 = 1,995 per window, not 20 of 96 = 1,920
		{96, 96},
		{100, 50},
		{10, 10},
		{1920, 96},
		{0, MaxBatch},         // no limit known
		{1_000_000, MaxBatch}, // a hundred calls a window or more
	} {
		got := callSize(c.count)
		if got != c.want {
			t.Errorf("callSize(%d) = %d, want %d", c.count, got, c.want)
		}
	}
}
