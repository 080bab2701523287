package httpclient

import "sync"

// retryBudget is a token bucket that bounds retries by the number of calls (Finagle's
// RetryBudget, without its time window): every call deposits ratio of a token, every retry
// withdraws a whole one, and the bucket holds at most burst tokens. It starts full.
type retryBudget struct {
	mu     sync.Mutex
	tokens float64
	ratio  float64
	burst  float64
}

func newRetryBudget(ratio float64, burst int) *retryBudget {
	return &retryBudget{tokens: float64(burst), ratio: ratio, burst: float64(burst)}
}

// deposit records a call.
func (b *retryBudget) deposit() {
	b.mu.Lock()
	b.tokens = min(b.burst, b.tokens+b.ratio)
	b.mu.Unlock()
}

// withdraw takes a token for a retry, reporting false when the budget is spent.
func (b *retryBudget) withdraw() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}
