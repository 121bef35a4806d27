package ofconn

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/contiv/libOpenflow/openflow13"
	"github.com/contiv/libOpenflow/util"
)

// Bundle flags: ATOMIC (all or nothing) and ORDERED (in our order). Every
// BUNDLE_ADD must carry the same flags as the OPEN, or OVS drops the bundle
// (ofproto/bundles.c, ofp_bundle_add_message: OFPBFC_BAD_FLAGS).
const bundleFlags = openflow13.OFPBCT_ATOMIC | openflow13.OFPBCT_ORDERED

const (
	bundleAddPrefix = 24      // ofp_header + experimenter + exp_type + bundle_id, pad, flags
	writeChunk      = 1 << 20 // bytes of bundle adds written per lock of the writer
)

// Bundle applies msgs (flow-mods, group-mods, packet-outs) atomically: the
// switch installs all of them or none.
//
// It opens an ONF bundle (OpenFlow 1.3 extension, experimenter type 2300),
// streams one BUNDLE_ADD per message without waiting for anything, sends a
// barrier, and commits only if no add was rejected. The barrier matters: OVS
// rejects a malformed add on its own and keeps the bundle open
// (ofproto/ofproto.c handle_bundle_add returns before
// ofp_bundle_add_message), so committing blindly would install the others.
// On any failure the bundle is discarded and a *BundleError names the
// messages that failed (their index in msgs). An empty msgs sends nothing.
func (c *Conn) Bundle(ctx context.Context, msgs []util.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	id := c.bundleID.Add(1)
	first := c.nextXid(len(msgs))
	// Encode everything before opening: a message we cannot encode then
	// costs the switch nothing.
	buf, chunks, flowMods, err := encodeAdds(id, first, msgs)
	if err != nil {
		return err
	}
	b := c.addBatch(first, len(msgs))
	defer c.removeBatch(b)

	if err := c.bundleCtrl(ctx, id, openflow13.OFPBCT_OPEN_REQUEST); err != nil {
		c.nBundleFail.Add(1)
		return &BundleError{Phase: "open", Err: err}
	}
	start := 0
	for _, ch := range chunks {
		if err := ctx.Err(); err != nil {
			return c.abortBundle(ctx, id, b, "add", err)
		}
		if err := c.writeRaw(buf[start:ch.end], ch.msgs); err != nil {
			c.nBundleFail.Add(1)
			return &BundleError{Phase: "add", Err: err}
		}
		start = ch.end
	}
	c.nFlowMods.Add(flowMods)

	if err := c.Barrier(ctx); err != nil {
		return c.abortBundle(ctx, id, b, "add", err)
	}
	if errs := c.batchErrors(b); len(errs) > 0 {
		return c.abortBundle(ctx, id, b, "add", nil)
	}
	if err := c.bundleCtrl(ctx, id, openflow13.OFPBCT_COMMIT_REQUEST); err != nil {
		c.nBundleFail.Add(1)
		var ofe *OFError
		if !errors.As(err, &ofe) {
			// Lost the reply (ctx, dead connection): it may have committed.
			return fmt.Errorf("%w: %w", ErrBundleUnknown, err)
		}
		// OVS reports the failing message with its own xid first, then
		// OFPBFC_MSG_FAILED for the commit; the reader kept them in order.
		// A failed commit removes the bundle (do_bundle_commit).
		return &BundleError{Phase: "commit", Err: err, Failed: c.batchErrors(b)}
	}
	c.nCommitted.Add(1)
	return nil
}

// abortBundle discards an open bundle and builds the error to return.
func (c *Conn) abortBundle(ctx context.Context, id uint32, b *batch, phase string, cause error) error {
	c.nBundleFail.Add(1)
	// Discard even when ctx is what failed; the switch would otherwise keep
	// the bundle until its 10 s idle timeout.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	derr := c.bundleCtrl(dctx, id, openflow13.OFPBCT_DISCARD_REQUEST)
	if derr != nil && c.Err() == nil {
		c.log.Warn("ofconn: bundle discard failed", "bundle", id, "err", derr)
	}
	return &BundleError{Phase: phase, Err: cause, Failed: c.batchErrors(b)}
}

// encodeAdds builds the BUNDLE_ADD messages for msgs back to back in one
// buffer, with the inner and outer xid equal (OVS requires it:
// lib/ofp-bundle.c ofputil_decode_bundle_add, OFPBFC_MSG_BAD_XID).
// libOpenflow's NewBundleAdd (bundles.go:244-253) gives the outer header a
// fresh xid of its own and so cannot be used as is; we also skip its
// double marshalling. The chunks end at message boundaries about writeChunk
// bytes apart, so other writers (echo replies) can interleave between them.
func encodeAdds(id, first uint32, msgs []util.Message) (buf []byte, chunks []chunk, flowMods uint64, err error) {
	chunkStart, chunkMsgs := 0, 0
	for i, m := range msgs {
		xid := first + uint32(i)
		inner, err := marshal(m, xid)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("message %d: %w", i, err)
		}
		total := bundleAddPrefix + len(inner)
		if total > maxMsgLen {
			return nil, nil, 0, fmt.Errorf("message %d: %w: %d bytes is too long for a bundle add", i, ErrBadMessage, len(inner))
		}
		if inner[1] == typeFlowMod {
			flowMods++
		}
		if buf == nil {
			buf = make([]byte, 0, len(msgs)*total+len(msgs)/4*total)
		}
		off := len(buf)
		buf = append(buf, make([]byte, bundleAddPrefix)...)
		p := buf[off:]
		putHeader(p, typeExperimenter, total, xid)
		binary.BigEndian.PutUint32(p[8:12], ExperimenterONF)
		binary.BigEndian.PutUint32(p[12:16], openflow13.Type_BundleAdd)
		binary.BigEndian.PutUint32(p[16:20], id)
		binary.BigEndian.PutUint16(p[22:24], bundleFlags)
		buf = append(buf, inner...)
		chunkMsgs++
		if len(buf)-chunkStart >= writeChunk || i == len(msgs)-1 {
			chunks = append(chunks, chunk{end: len(buf), msgs: chunkMsgs})
			chunkStart, chunkMsgs = len(buf), 0
		}
	}
	return buf, chunks, flowMods, nil
}

// chunk is a run of whole messages in an encoded buffer.
type chunk struct{ end, msgs int }

// bundleCtrl sends a bundle control request and checks the matching reply.
// The request itself is libOpenflow's (NewBundleControl encodes correctly).
func (c *Conn) bundleCtrl(ctx context.Context, id uint32, typ uint16) error {
	msg := openflow13.NewBundleControl(&openflow13.BundleControl{BundleID: id, Type: typ, Flags: bundleFlags})
	f, err := marshal(msg, c.nextXid(1))
	if err != nil {
		return err
	}
	w, err := c.roundTrip(ctx, f)
	if err != nil {
		return err
	}
	r := w.replies[0]
	// The reply type is always the request type + 1 (OPEN_REPLY, ...).
	if r[1] != typeExperimenter || len(r) < 24 ||
		binary.BigEndian.Uint32(r[8:12]) != ExperimenterONF ||
		binary.BigEndian.Uint32(r[12:16]) != openflow13.Type_BundleCtrl ||
		binary.BigEndian.Uint32(r[16:20]) != id ||
		binary.BigEndian.Uint16(r[20:22]) != typ+1 {
		return fmt.Errorf("%w: unexpected reply to bundle control %d: % x", ErrProtocol, typ, r[:min(len(r), 24)])
	}
	return nil
}

// writeRaw writes bytes that hold n whole messages.
func (c *Conn) writeRaw(p []byte, n int) error {
	if err := c.write(p); err != nil {
		return err
	}
	c.nMessages.Add(uint64(n - 1)) // write counted one
	return nil
}

// DeleteByCookie builds a non-strict OFPFC_DELETE in all tables (OFPTT_ALL)
// for the flows whose cookie matches cookie under mask, whatever their match
// or priority: out_port and out_group are ANY and the match is empty.
func DeleteByCookie(cookie, mask uint64) *openflow13.FlowMod {
	fm := openflow13.NewFlowMod()
	fm.Command = openflow13.FC_DELETE
	fm.TableId = openflow13.OFPTT_ALL
	fm.Cookie = cookie
	fm.CookieMask = mask
	fm.OutPort = openflow13.P_ANY
	fm.OutGroup = openflow13.OFPG_ANY
	fm.Priority = 0
	return fm
}
