package flowlog

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
)

// Rotation: a log file that reaches MaxFileSize is renamed FILE.1 (FILE.1
// to FILE.2, ...; the oldest of Backups goes), and a new FILE is started.
const (
	MaxFileSize = 16 << 20
	Backups     = 3
	// QueueLen is how many records may wait for a slow disk before new
	// ones are dropped (and counted), never blocking the collector.
	QueueLen = 4096
)

// writer appends lines to one file from its own goroutine. Put never
// blocks: a full queue drops the line.
type writer struct {
	path    string
	maxSize int64
	queue   chan []byte
	done    chan struct{}

	written, dropped atomic.Uint64
	failed           atomic.Uint64 // lines lost to I/O errors (counted as dropped too)
	errOnce          sync.Once
	onErr            func(error)

	f    *os.File
	bw   *bufio.Writer
	size int64
}

func newWriter(path string, maxSize int64, onErr func(error)) *writer {
	w := &writer{path: path, maxSize: maxSize, queue: make(chan []byte, QueueLen), done: make(chan struct{}), onErr: onErr}
	go w.run()
	return w
}

// Put queues one line (without its newline); false when the queue is full.
func (w *writer) Put(line []byte) bool {
	select {
	case w.queue <- line:
		return true
	default:
		w.dropped.Add(1)
		return false
	}
}

// Close writes what is queued and closes the file.
func (w *writer) Close() {
	close(w.queue)
	<-w.done
}

func (w *writer) run() {
	defer close(w.done)
	defer w.closeFile()
	for line := range w.queue {
		if err := w.write(line); err != nil {
			w.failed.Add(1)
			w.dropped.Add(1)
			w.errOnce.Do(func() { w.onErr(err) })
			w.closeFile() // try again afresh with the next line
			continue
		}
		w.written.Add(1)
		if len(w.queue) == 0 {
			if err := w.bw.Flush(); err != nil {
				w.errOnce.Do(func() { w.onErr(err) })
				w.closeFile()
			}
		}
	}
}

func (w *writer) write(line []byte) error {
	if w.f == nil {
		if err := w.open(); err != nil {
			return err
		}
	}
	if w.size > 0 && w.size+int64(len(line))+1 > w.maxSize {
		if err := w.rotate(); err != nil {
			return err
		}
	}
	n, err := w.bw.Write(append(line, '\n'))
	w.size += int64(n)
	return err
}

func (w *writer) open() error {
	if err := os.MkdirAll(filepath.Dir(w.path), 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(w.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return err
	}
	w.f, w.bw, w.size = f, bufio.NewWriterSize(f, 64<<10), fi.Size()
	return nil
}

// rotate shifts FILE.(n-1) to FILE.n down to FILE to FILE.1, and reopens.
func (w *writer) rotate() error {
	w.closeFile()
	for i := Backups; i > 1; i-- {
		os.Rename(w.path+"."+strconv.Itoa(i-1), w.path+"."+strconv.Itoa(i))
	}
	if err := os.Rename(w.path, w.path+".1"); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("rotating %s: %w", w.path, err)
	}
	return w.open()
}

func (w *writer) closeFile() {
	if w.f == nil {
		return
	}
	w.bw.Flush()
	w.f.Close()
	w.f, w.bw = nil, nil
}
