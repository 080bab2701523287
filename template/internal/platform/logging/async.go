package logging

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
)

// asyncWriter takes each line (one Write, as slog's handlers write them) into a bounded
// queue and writes it to out from one goroutine, so a slow stdout (a full pipe, a busy
// node's log agent) never holds a request. The lines queued while one was being written go
// out together in the next Write: one system call for many lines when the service logs
// faster than one write per line keeps up. When the queue is full a line is dropped and
// counted, except through blocking(), which waits for room: warnings and errors.
//
// A crash loses what is queued; Close writes it out at shutdown, and from then on lines
// are written synchronously.
type asyncWriter struct {
	out   io.Writer
	queue chan []byte
	done  chan struct{} // closed when the goroutine has written everything queued

	mu     sync.RWMutex // write-held by Close while it closes the queue
	closed bool
	outMu  sync.Mutex // serialises writes to out after Close with the draining goroutine

	dropped atomic.Int64
	pool    sync.Pool
}

const (
	// maxPooledLine bounds the buffers kept for reuse: one huge line must not pin its memory.
	maxPooledLine = 64 << 10
	// maxBatch bounds the lines taken into one Write; a batch holds at least one line, so a
	// huge line makes a batch of its own, whose buffer is then not kept.
	maxBatch = 64 << 10
)

func newAsyncWriter(out io.Writer, size int) *asyncWriter {
	w := &asyncWriter{out: out, queue: make(chan []byte, size), done: make(chan struct{})}
	go w.run()
	return w
}

func (w *asyncWriter) run() {
	defer close(w.done)
	var batch []byte
	for line := range w.queue {
		batch = w.take(batch[:0], line)
	queued:
		for len(batch) < maxBatch {
			select {
			case line, ok := <-w.queue:
				if !ok {
					break queued // closed: write what is taken, then range ends
				}
				batch = w.take(batch, line)
			default:
				break queued
			}
		}
		w.outMu.Lock()
		_, _ = w.out.Write(batch) // nowhere to report a failed log write
		w.outMu.Unlock()
		if cap(batch) > 2*maxBatch {
			batch = nil // grown by a huge line: not kept
		}
	}
}

// take appends line to batch and returns the line's buffer for reuse.
func (w *asyncWriter) take(batch, line []byte) []byte {
	batch = append(batch, line...)
	if cap(line) <= maxPooledLine {
		w.pool.Put(&line)
	}
	return batch
}

// Write queues a copy of p, or drops it if the queue is full.
func (w *asyncWriter) Write(p []byte) (int, error) { return w.write(p, false) }

// blocking is the view of w that waits for room instead of dropping.
func (w *asyncWriter) blocking() io.Writer { return blockingWriter{w} }

type blockingWriter struct{ w *asyncWriter }

func (b blockingWriter) Write(p []byte) (int, error) { return b.w.write(p, true) }

func (w *asyncWriter) write(p []byte, wait bool) (int, error) {
	w.mu.RLock()
	defer w.mu.RUnlock()
	if w.closed {
		w.outMu.Lock()
		defer w.outMu.Unlock()
		return w.out.Write(p)
	}
	line := w.buffer(len(p))
	line = append(line, p...)
	if wait {
		w.queue <- line
		return len(p), nil
	}
	select {
	case w.queue <- line:
	default:
		w.dropped.Add(1)
	}
	return len(p), nil
}

func (w *asyncWriter) buffer(n int) []byte {
	if b, ok := w.pool.Get().(*[]byte); ok && cap(*b) >= n {
		return (*b)[:0]
	}
	return make([]byte, 0, max(n, 256))
}

// Close stops queueing and waits until what was queued is written, or ctx ends.
func (w *asyncWriter) Close(ctx context.Context) error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	select {
	case <-w.done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
