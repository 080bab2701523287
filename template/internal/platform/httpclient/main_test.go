package httpclient_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Every test leaves no goroutine behind: no retry loop still waiting, no attempt still
// running, no connection still being read after its server and client closed.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
