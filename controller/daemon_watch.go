package controller

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/vpcctl/vpcctl/flows/ofconn"
)

// acceptLoop hands every connection ovs-vswitchd opens to the daemon's
// socket (after the OpenFlow handshake) to the main loop, until ctx ends.
// ofconn answers OVS's echo requests and probes OVS itself, so a dead
// vswitchd shows as Conn.Done.
func acceptLoop(ctx context.Context, ln *ofconn.Listener, log *slog.Logger) <-chan *ofconn.Conn {
	out := make(chan *ofconn.Conn)
	go func() {
		for ctx.Err() == nil {
			c, err := ln.Accept(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				log.Warn("accepting ovs-vswitchd's connection", "event", "accept_failed", "err", err)
				sleep(ctx, 200*time.Millisecond)
				continue
			}
			select {
			case out <- c:
			case <-ctx.Done():
				c.Close()
				return
			}
		}
	}()
	return out
}

// watchFile reports changes of file, true when the file was created or
// renamed over (replaced whole) rather than written in place. It watches the file's directory, not
// the file: editors and config managers replace a file by renaming a new one
// over it, which a watch on the file itself would not survive.
func watchFile(ctx context.Context, file string, log *slog.Logger) (<-chan bool, error) {
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watching %s: %w", file, err)
	}
	dir := filepath.Dir(file)
	if err := w.Add(dir); err != nil {
		w.Close()
		return nil, fmt.Errorf("watching %s: %w", dir, err)
	}
	out := make(chan bool, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if filepath.Clean(ev.Name) != file || ev.Op == fsnotify.Chmod {
					continue
				}
				log.Debug("file event", "event", "file_event", "op", ev.Op.String())
				replaced := ev.Op.Has(fsnotify.Create)
				select {
				case out <- replaced:
				default: // one pending notice is enough: the reader debounces
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				log.Warn("file watch", "event", "watch_error", "err", err)
			}
		}
	}()
	return out, nil
}

// linkEvent is a network device of the host namespace that appeared or
// changed, or (gone) was deleted.
type linkEvent struct {
	name string
	gone bool
}

// watchLinks reports the network devices that appear, change or go in the
// daemon's namespace, the host's. After an ovs-vswitchd restart the
// userspace datapath re-creates each internal port as a fresh tap there;
// the daemon moves it back into its instance's namespace. If the netlink
// subscription fails (for example its buffer overflowed) it is renewed.
func watchLinks(ctx context.Context, log *slog.Logger) <-chan linkEvent {
	out := make(chan linkEvent, 64)
	go func() {
		for ctx.Err() == nil {
			ch := make(chan netlink.LinkUpdate, 256)
			err := netlink.LinkSubscribeWithOptions(ch, ctx.Done(), netlink.LinkSubscribeOptions{
				ErrorCallback: func(err error) {
					log.Debug("link watch", "event", "watch_error", "err", err)
				},
			})
			if err != nil {
				log.Warn("link watch", "event", "watch_error", "err", err)
				sleep(ctx, 5*time.Second)
				continue
			}
			for u := range ch { // closed when the subscription ends
				if u.Header.Type != unix.RTM_NEWLINK && u.Header.Type != unix.RTM_DELLINK || u.Link == nil {
					continue
				}
				select {
				case out <- linkEvent{name: u.Link.Attrs().Name, gone: u.Header.Type == unix.RTM_DELLINK}:
				default: // the main loop is busy; a periodic check catches up
				}
			}
			sleep(ctx, time.Second)
		}
	}()
	return out
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-ctx.Done():
	}
}
