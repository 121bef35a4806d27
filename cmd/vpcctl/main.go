// Command vpcctl builds AWS-style VPCs on one Open vSwitch bridge.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/vpcctl/vpcctl/config"
	"github.com/vpcctl/vpcctl/controller"
)

// Exit codes (SPEC §3).
const (
	exitOK      = 0
	exitRuntime = 1
	exitInvalid = 2
)

// usageError marks bad command-line input (exit 2).
type usageError struct{ error }

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return exitOK
	}
	var cerrs config.Errors
	var uerr usageError
	var xerr exitCodeError
	var herr *controller.HostError
	switch {
	case errors.As(err, &xerr):
		return int(xerr)
	case errors.As(err, &cerrs):
		fmt.Fprintf(os.Stderr, "invalid topology (%d errors):\n%v\n", len(cerrs), cerrs)
		return exitInvalid
	case errors.As(err, &uerr), errors.As(err, &herr):
		fmt.Fprintln(os.Stderr, "vpcctl:", err)
		return exitInvalid
	default:
		fmt.Fprintln(os.Stderr, "vpcctl:", err)
		return exitRuntime
	}
}

// exitCodeError carries a child's exit code through cobra (vpcctl exec).
type exitCodeError int

func (e exitCodeError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }
