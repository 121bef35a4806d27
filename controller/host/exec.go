package host

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"

	"github.com/vishvananda/netns"
)

// Exec replaces the current process by argv running inside the namespace
// (`vpcctl exec NAME -- CMD`), so the exit code is CMD's. argv[0] is looked
// up in PATH. It returns only on failure. Unlike `ip netns exec` it does not
// remount /sys (a multithreaded Go process cannot unshare its mount
// namespace), so /sys/class/net shows the host's links; /proc/net and every
// socket are the namespace's.
func Exec(ns string, argv []string) error {
	if len(argv) == 0 {
		return errors.New("exec: no command")
	}
	path, err := exec.LookPath(argv[0])
	if err != nil {
		return err
	}
	target, err := openNamespace(ns)
	if err != nil {
		return err
	}
	defer target.Close()
	// execve keeps the calling thread's namespaces and discards the other
	// threads, so entering the namespace on this locked thread is enough.
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return err
	}
	defer orig.Close()
	if err := netns.Set(target); err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("enter netns %s: %w", ns, err)
	}
	err = syscall.Exec(path, argv, os.Environ())
	if rerr := netns.Set(orig); rerr != nil {
		return errors.Join(err, rerr) // thread stays locked and is discarded
	}
	runtime.UnlockOSThread()
	return fmt.Errorf("exec %s: %w", path, err)
}

// Run runs argv inside the namespace with vpcctl's stdin, stdout and
// stderr, and returns its exit code (-1 if a signal killed it). err is set
// only when the command could not run at all. Unlike Exec it returns, so the
// caller can clean up first.
func Run(ns string, argv []string) (exitCode int, err error) {
	if len(argv) == 0 {
		return -1, errors.New("run: no command")
	}
	cmd := Command(ns, argv)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err = cmd.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return ee.ExitCode(), nil
	}
	if err != nil {
		return -1, err
	}
	return 0, nil
}

// Cmd is an exec.Cmd that starts inside a network namespace. Set its fields
// as with exec.Cmd; use its Start, Run, Output and CombinedOutput (they
// shadow exec.Cmd's), and Wait as usual.
type Cmd struct {
	*exec.Cmd
	Namespace string
}

// Command prepares argv to run inside the namespace (argv[0] looked up in PATH).
func Command(ns string, argv []string) *Cmd {
	if len(argv) == 0 {
		argv = []string{""} // exec reports the error at Start
	}
	return &Cmd{Cmd: exec.Command(argv[0], argv[1:]...), Namespace: ns}
}

// Start forks the child from a thread inside the namespace: the child
// inherits that thread's network namespace.
func (c *Cmd) Start() error {
	return inNamespace(c.Namespace, c.Cmd.Start)
}

// Run starts the command and waits for it; a non-zero exit is an
// *exec.ExitError, as with exec.Cmd.
func (c *Cmd) Run() error {
	if err := c.Start(); err != nil {
		return err
	}
	return c.Wait()
}

// Output runs the command and returns its stdout.
func (c *Cmd) Output() ([]byte, error) {
	if c.Stdout != nil {
		return nil, errors.New("exec: Stdout already set")
	}
	var out, errb bytes.Buffer
	c.Stdout = &out
	if c.Stderr == nil {
		c.Stderr = &errb
	}
	err := c.Run()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		ee.Stderr = errb.Bytes()
	}
	return out.Bytes(), err
}

// CombinedOutput runs the command and returns stdout and stderr together.
func (c *Cmd) CombinedOutput() ([]byte, error) {
	if c.Stdout != nil || c.Stderr != nil {
		return nil, errors.New("exec: Stdout or Stderr already set")
	}
	var b bytes.Buffer
	c.Stdout, c.Stderr = &b, &b
	err := c.Run()
	return b.Bytes(), err
}
