package respond

import (
	"bytes"
	"testing"
)

// The pool's size rule is not observable from outside (sync.Pool may drop anything), so it is
// pinned here, at the boundary.
func TestPoolKeepsOnlySmallBuffers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		capacity int
		want     bool
	}{
		{0, true},
		{maxPooledBufferSize, true},
		{maxPooledBufferSize + 1, false},
	} {
		buf := bytes.NewBuffer(make([]byte, 0, tc.capacity))
		if got := poolable(buf); got != tc.want {
			t.Errorf("poolable(cap %d) = %v, want %v", buf.Cap(), got, tc.want)
		}
	}
}

func TestGetBufferIsEmpty(t *testing.T) {
	t.Parallel()
	for range 100 {
		buf := getBuffer()
		if buf.Len() != 0 {
			t.Fatalf("getBuffer returned %d bytes of an earlier response", buf.Len())
		}
		buf.WriteString("left over")
		putBuffer(buf)
	}
}
