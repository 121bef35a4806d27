package ovsdb

import "errors"

var (
	// ErrNotFound: the bridge, port or interface does not exist.
	ErrNotFound = errors.New("not found")
	// ErrNotOwned: the row exists but vpcctl did not create it
	// (no external_ids:vpcctl-owner=vpcctl), so vpcctl leaves it alone.
	ErrNotOwned = errors.New("not owned by vpcctl")
	// ErrConflict: the name is taken in a way vpcctl does not undo by
	// itself, for example a vpcctl port on another bridge.
	ErrConflict = errors.New("conflict")
	// ErrInvalid: a spec or argument is not acceptable.
	ErrInvalid = errors.New("invalid argument")
	// ErrPortFailed: ovs-vswitchd could not attach the interface (ofport -1).
	ErrPortFailed = errors.New("interface failed to attach")
)
