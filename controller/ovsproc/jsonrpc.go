package ovsproc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"
)

// rpcConn is the smallest JSON-RPC 1.0 client that OVSDB (RFC 7047) and OVS
// unixctl sockets need: one request at a time. Package ovsdb of this
// repository is the real OVSDB client; this one only bootstraps a database.
type rpcConn struct {
	c   net.Conn
	dec *json.Decoder
	id  int
}

type rpcResponse struct {
	ID     json.RawMessage `json:"id"`
	Method string          `json:"method"` // set on requests from the server (echo)
	Params json.RawMessage `json:"params"`
	Result json.RawMessage `json:"result"`
	Error  json.RawMessage `json:"error"`
}

func dialRPC(ctx context.Context, path string) (*rpcConn, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", path)
	if err != nil {
		return nil, err
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	c.SetDeadline(deadline)
	return &rpcConn{c: c, dec: json.NewDecoder(c)}, nil
}

func (r *rpcConn) Close() error { return r.c.Close() }

// call sends method(params) and decodes the result into out (if not nil).
func (r *rpcConn) call(method string, params []any, out any) error {
	r.id++
	req := map[string]any{"method": method, "params": params, "id": r.id}
	if err := json.NewEncoder(r.c).Encode(req); err != nil {
		return err
	}
	for {
		var resp rpcResponse
		if err := r.dec.Decode(&resp); err != nil {
			return fmt.Errorf("%s: %w", method, err)
		}
		if resp.Method == "echo" { // keepalive from the server: answer it
			reply := map[string]any{"id": resp.ID, "result": resp.Params, "error": nil}
			if err := json.NewEncoder(r.c).Encode(reply); err != nil {
				return err
			}
			continue
		}
		var id int
		if json.Unmarshal(resp.ID, &id) != nil || id != r.id {
			continue // a notification or a stale reply
		}
		if len(resp.Error) > 0 && string(resp.Error) != "null" {
			return fmt.Errorf("%s: %s", method, resp.Error)
		}
		if out == nil {
			return nil
		}
		return json.Unmarshal(resp.Result, out)
	}
}

// opResult is one operation's outcome in an OVSDB transact reply.
type opResult struct {
	Rows    []map[string]json.RawMessage `json:"rows"`
	Count   int                          `json:"count"`
	Error   string                       `json:"error"`
	Details string                       `json:"details"`
}

// transact runs OVSDB operations atomically; a failed operation fails it.
func (r *rpcConn) transact(db string, ops ...any) ([]opResult, error) {
	var res []opResult
	if err := r.call("transact", append([]any{db}, ops...), &res); err != nil {
		return nil, err
	}
	var errs []error
	for i, op := range res {
		if op.Error != "" {
			errs = append(errs, fmt.Errorf("operation %d: %s: %s", i, op.Error, op.Details))
		}
	}
	return res, errors.Join(errs...)
}
