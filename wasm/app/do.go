package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/task-messenger/task-messenger/wasm/dbcall"
	"github.com/task-messenger/task-messenger/wasm/identity"
	"github.com/task-messenger/task-messenger/wasm/internal/jsonhead"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// MaxArgs is the most bytes of arguments Do reads: sendMany's largest
// batch (room.MaxBatch texts of room.MaxText bytes, JSON-escaped) or an
// import of MaxImport bytes given as a JSON string.
const MaxArgs = 2*MaxImport + 1<<20

// argError is an error in Do's arguments: its text is the JS API's, and
// errors.Is finds ErrBadArgs.
type argError struct{ msg string }

func (e *argError) Error() string        { return e.msg }
func (e *argError) Is(target error) bool { return target == ErrBadArgs }

func badArgs(format string, a ...any) error { return &argError{fmt.Sprintf(format, a...)} }

// args are the arguments of one JS call: JSON.stringify([...arguments]).
type args []json.RawMessage

// parseArgs reads a JSON array of arguments; empty or null is no argument.
func parseArgs(raw json.RawMessage) (args, error) {
	if len(raw) > MaxArgs {
		return nil, badArgs("arguments of %d bytes, at most %d", len(raw), MaxArgs)
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	if as, ok := jsonhead.Elements(raw); ok {
		return as, nil
	}
	var as args
	if err := json.Unmarshal(raw, &as); err != nil {
		return nil, badArgs("arguments must be a JSON array: %v", err)
	}
	return as, nil
}

// kind is the JSON type of a value: "string", "number", "object", "array",
// "boolean" or "null" (also for an argument not given).
func kind(v json.RawMessage) string {
	v = bytes.TrimSpace(v)
	if len(v) == 0 {
		return "null"
	}
	switch v[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "boolean"
	case 'n':
		return "null"
	}
	return "number"
}

// at is argument i, or null.
func (as args) at(i int) json.RawMessage {
	if i < len(as) {
		return as[i]
	}
	return nil
}

// str is argument i if it is a string.
func (as args) str(i int) (string, bool) {
	v := as.at(i)
	if kind(v) != "string" {
		return "", false
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		return "", false
	}
	return s, true
}

// options is an options object: argument i if it is an object, else an
// empty one (as the JS API reads it).
type options map[string]json.RawMessage

func (as args) options(i int) options {
	v := as.at(i)
	if kind(v) != "object" {
		return options{}
	}
	var o options
	if json.Unmarshal(v, &o) != nil {
		return options{}
	}
	return o
}

// str is the string option key, def if it is absent or null.
func (o options) str(key, def string) (string, error) {
	v := o[key]
	switch kind(v) {
	case "null":
		return def, nil
	case "string":
		var s string
		if json.Unmarshal(v, &s) == nil {
			return s, nil
		}
	}
	return "", badArgs("option %q must be a string", key)
}

// num is the number option key; ok is false if it is absent or not a
// number.
func (o options) num(key string) (f float64, ok bool) {
	v := o[key]
	if kind(v) != "number" || json.Unmarshal(v, &f) != nil {
		return 0, false
	}
	return f, true
}

func (as args) task(i int, what string) (room.TaskID, error) {
	s, ok := as.str(i)
	if !ok {
		return room.TaskID{}, badArgs("%s: taskId must be a string", what)
	}
	return room.ParseTaskID(s)
}

// Do calls the JS API's method with args, the JSON array of the call's
// arguments (JSON.stringify([...arguments]), at most MaxArgs bytes), and
// returns the JSON of what the call's Promise resolves to (nil for
// undefined). ctx ends the call, and so does Close. Errors have the JS
// API's texts; bad arguments are ErrBadArgs, an unknown method
// ErrUnknownMethod.
func (a *App) Do(ctx context.Context, method string, raw json.RawMessage) (json.RawMessage, error) {
	if dbcall.Is(method) {
		return a.doDB(ctx, method, raw)
	}
	as, err := parseArgs(raw)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	var v any
	switch method {
	case "createTask":
		v, err = a.doCreateTask(ctx, as)
	case "rename":
		err = a.doRename(ctx, as)
	case "invite":
		v, err = a.doInvite(ctx, as)
	case "revokeInvite":
		code, ok := as.str(0)
		if !ok {
			return nil, badArgs("revokeInvite(code): code must be a string")
		}
		err = a.RevokeInvite(ctx, code)
	case "join":
		v, err = a.doJoin(ctx, as)
	case "send":
		v, err = a.doSend(ctx, as)
	case "sendMany":
		v, err = a.doSendMany(ctx, as)
	case "timeline":
		v, err = a.doTimeline(ctx, as)
	case "tasks":
		v, err = a.Tasks()
	case "members":
		var id room.TaskID
		if id, err = as.task(0, "members(taskId)"); err == nil {
			v, err = a.Members(id)
		}
	case "mirrors":
		v, err = a.Mirrors()
	case "export":
		var pass string
		if pass, err = as.options(0).str("passphrase", ""); err != nil {
			return nil, fmt.Errorf("export: %w", err)
		}
		v, err = a.Export(ctx, pass)
	case "import":
		v, err = a.doImport(ctx, as)
	case "reset":
		err = a.Reset(ctx)
	case "read":
		err = a.doRead(as)
	case "removeMember":
		err = a.doMember(ctx, as, "removeMember", a.RemoveMember)
	case "allowRemoving":
		err = a.doMember(ctx, as, "allowRemoving", a.AllowRemoving)
	case "recoveryCode":
		v, err = a.RecoveryCode(ctx)
	case "recover":
		code, ok := as.str(0)
		if !ok {
			return nil, badArgs("recover(code): code must be a string")
		}
		v, err = a.Recover(ctx, code)
	case "restoreStatus":
		v, err = a.RestoreStatus()
	case "finishRestore":
		v, err = a.FinishRestore(ctx)
	case "linkDevice":
		v, err = a.doLinkDevice(ctx, as)
	case "link":
		v, err = a.doLink(ctx, as)
	case "devices":
		v, err = a.Devices()
	case "revokeDevice":
		s, ok := as.str(0)
		if !ok {
			return nil, badArgs("revokeDevice(id): id must be a string")
		}
		dev, perr := identity.ParseID(s)
		if perr != nil {
			return nil, badArgs("revokeDevice(id): %v", perr)
		}
		err = a.RevokeDevice(ctx, dev)
	case "person":
		v = a.Person()
	case "file":
		v, err = a.doFile(ctx, as)
	case "search":
		v, err = a.doSearch(ctx, as)
	case "setName":
		err = a.doSetName(ctx, as)
	case "name":
		v, err = a.Name()
	case "edit":
		v, err = a.doEdit(ctx, as)
	case "delete":
		v, err = a.doDelete(ctx, as)
	case "lookup":
		v, err = a.doLookup(ctx, as)
	case "limits":
		v = a.Limits()
	case "uiState":
		v, err = a.UIState()
	case "setUIState":
		err = a.doSetUIState(ctx, as)
	case "usage", "leave", "forget":
		v, err = a.doStorage(ctx, method, as)
	default:
		return nil, fmt.Errorf("%w %q: use one of %s", ErrUnknownMethod, method, strings.Join(Methods, ", "))
	}
	if err != nil || v == nil {
		return nil, quota(err)
	}
	switch r := v.(type) { // send's and timeline's, written without json.Marshal's second pass
	case MessageView:
		return r.MarshalJSON()
	case []MessageView:
		return marshalViews(r)
	}
	return json.Marshal(v)
}

// marshalViews is json.Marshal(vs): MessageView.MarshalJSON's output
// joined, without json.Marshal checking and compacting each again.
func marshalViews(vs []MessageView) (json.RawMessage, error) {
	if vs == nil {
		return json.RawMessage("null"), nil
	}
	n := 2
	for i := range vs {
		n += vs[i].size()
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i := range vs {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = vs[i].appendJSON(b); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// doCreateTask is createTask({ title, parent }) → task.
func (a *App) doCreateTask(ctx context.Context, as args) (any, error) {
	o := as.options(0)
	title, err := o.str("title", "")
	if err != nil {
		return nil, fmt.Errorf("createTask: %w", err)
	}
	ps, err := o.str("parent", "")
	if err != nil {
		return nil, fmt.Errorf("createTask: %w", err)
	}
	var parent *room.TaskID
	if ps != "" {
		p, err := room.ParseTaskID(ps)
		if err != nil {
			return nil, fmt.Errorf("createTask: parent: %w", err)
		}
		parent = &p
	}
	return a.CreateTask(ctx, title, parent)
}

// doRename is rename(taskId, title).
func (a *App) doRename(ctx context.Context, as args) error {
	id, err := as.task(0, "rename(taskId, title)")
	if err != nil {
		return err
	}
	title, ok := as.str(1)
	if !ok {
		return badArgs("rename(taskId, title): title must be a string")
	}
	return a.Rename(ctx, id, title)
}

// doInvite is invite(taskId, { expires }) → code; expires is Unix ms or a
// date as JSON.stringify writes a Date (ISO 8601).
func (a *App) doInvite(ctx context.Context, as args) (any, error) {
	id, err := as.task(0, "invite(taskId)")
	if err != nil {
		return nil, err
	}
	var opts room.InviteOptions
	o := as.options(1)
	e := o["expires"]
	switch kind(e) {
	case "null":
	case "number":
		ms, _ := o.num("expires")
		if math.IsNaN(ms) || math.Abs(ms) > room.MaxDate {
			return nil, badArgs("invite: expires must be a Date or a number of Unix ms")
		}
		opts.Expires = time.UnixMilli(int64(ms))
	case "string":
		s, _ := o.str("expires", "")
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return nil, badArgs("invite: expires must be a Date or a number of Unix ms")
		}
		opts.Expires = t
	default:
		return nil, badArgs("invite: expires must be a Date or a number of Unix ms")
	}
	return a.Invite(ctx, id, opts)
}

// doJoin is join(code, { timeout }) → task: waits while the host is
// offline, until the timeout (ms), ctx or Close.
func (a *App) doJoin(ctx context.Context, as args) (any, error) {
	code, ok := as.str(0)
	if !ok {
		return nil, badArgs("join(code): code must be a string")
	}
	if t, ok := as.options(1).num("timeout"); ok && t > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(min(t, float64(math.MaxInt64/int64(time.Millisecond)))*float64(time.Millisecond)))
		defer cancel()
	}
	return a.Join(ctx, code)
}

// messageRef reads a message or its id ("by/mid"); nil for null.
func messageRef(r json.RawMessage, what string) (*room.Ref, error) {
	if kind(r) == "object" {
		var m struct {
			ID json.RawMessage `json:"id"`
		}
		if json.Unmarshal(r, &m) != nil {
			return nil, badArgs("%s must be a message or its id", what)
		}
		if r = m.ID; kind(r) == "null" {
			return nil, badArgs("%s must be a message or its id", what)
		}
	}
	switch kind(r) {
	case "null":
		return nil, nil
	case "string":
		var s string
		if json.Unmarshal(r, &s) != nil {
			return nil, badArgs("%s must be a message or its id", what)
		}
		ref, err := room.ParseRef(s)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		return &ref, nil
	}
	return nil, badArgs("%s must be a message or its id", what)
}

// doRead is read(taskId, message, { from }): the user read the task's
// messages of the message's author up to it (its receipt tells the
// author); from, a message key: the view shows every message from it on
// and none before (MarkReadFrom).
func (a *App) doRead(as args) error {
	id, err := as.task(0, "read(taskId, message)")
	if err != nil {
		return err
	}
	ref, err := messageRef(as.at(1), "read(taskId, message): message")
	if err != nil {
		return err
	}
	if ref == nil {
		return badArgs("read(taskId, message): a message or its id is required")
	}
	f, err := as.options(2).str("from", "")
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	m, err := a.messenger()
	if err != nil {
		return err
	}
	if f == "" {
		return m.MarkRead(id, *ref)
	}
	from, err := room.ParseKey(f)
	if err != nil {
		return badArgs("read(taskId, message, { from }): from: %v", err)
	}
	return m.MarkReadFrom(id, *ref, from)
}

// doSend is send(taskId, text, { replyTo }) → message; replyTo is a
// message id ("by/mid") or a message (its id is used).
func (a *App) doSend(ctx context.Context, as args) (any, error) {
	id, err := as.task(0, "send(taskId, text)")
	if err != nil {
		return nil, err
	}
	text, ok := as.str(1)
	if !ok {
		return nil, badArgs("send(taskId, text): text must be a string")
	}
	opts := as.options(2) // once: files make it large
	reply, err := messageRef(opts["replyTo"], "send: replyTo")
	if err != nil {
		return nil, err
	}
	// A follower tab's send carries a nonce, and retry once the tab that
	// first carried it out closed (package tabs): it is written once.
	nonce, err := opts.str("nonce", "")
	if err != nil {
		return nil, badArgs("send: %v", err)
	}
	if files := opts["files"]; kind(files) != "null" {
		return a.doSendFiles(ctx, id, text, reply, files)
	}
	if nonce != "" {
		return a.SendOnce(ctx, id, text, reply, nonce, string(bytes.TrimSpace(opts["retry"])) == "true")
	}
	return a.Send(ctx, id, text, reply)
}

// doSendMany is sendMany(taskId, texts) → the number written.
func (a *App) doSendMany(ctx context.Context, as args) (any, error) {
	id, err := as.task(0, "sendMany(taskId, texts)")
	if err != nil {
		return nil, err
	}
	var raw []json.RawMessage
	if kind(as.at(1)) != "array" || json.Unmarshal(as.at(1), &raw) != nil {
		return nil, badArgs("sendMany(taskId, texts): texts must be an array of strings")
	}
	if len(raw) > room.MaxBatch {
		return nil, badArgs("sendMany: %d texts, at most %d", len(raw), room.MaxBatch)
	}
	texts := make([]string, len(raw))
	for i, r := range raw {
		if kind(r) != "string" || json.Unmarshal(r, &texts[i]) != nil {
			return nil, badArgs("sendMany: texts[%d] is not a string", i)
		}
	}
	n, err := a.SendMany(ctx, id, texts)
	if err != nil {
		return nil, err
	}
	return n, nil
}

// doTimeline is timeline(taskId, { before, limit }) → messages, oldest
// first; before is a message key (msg.key).
func (a *App) doTimeline(ctx context.Context, as args) (any, error) {
	id, err := as.task(0, "timeline(taskId)")
	if err != nil {
		return nil, err
	}
	o := as.options(1)
	b, err := o.str("before", "")
	if err != nil {
		return nil, fmt.Errorf("timeline: %w", err)
	}
	var before *room.Key
	if b != "" {
		k, err := room.ParseKey(b)
		if err != nil {
			return nil, fmt.Errorf("timeline: before: %w", err)
		}
		before = &k
	}
	limit := 0
	if l, ok := o.num("limit"); ok && l > 0 {
		limit = int(min(l, room.MaxPage))
	}
	return a.Timeline(ctx, id, before, limit)
}

// doImport is import(json, { passphrase }) → results; json is an export
// or backup object, or its JSON text.
func (a *App) doImport(ctx context.Context, as args) (any, error) {
	var data []byte
	switch kind(as.at(0)) {
	case "string":
		s, _ := as.str(0)
		data = []byte(s)
	case "object":
		data = as.at(0)
	default:
		return nil, badArgs("import(json): an export (object or JSON text) is required")
	}
	pass, err := as.options(1).str("passphrase", "")
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	res, err := a.Import(ctx, data, pass)
	if err != nil {
		return nil, err
	}
	return res, nil
}

// doMember is name(taskId, memberId): removeMember (the task's creator,
// or a member it allowed, removes a member) or allowRemoving (the creator
// allows a member to remove).
func (a *App) doMember(ctx context.Context, as args, name string, call func(context.Context, room.TaskID, identity.ID) error) error {
	id, err := as.task(0, name+"(taskId, memberId)")
	if err != nil {
		return err
	}
	s, ok := as.str(1)
	if !ok {
		return badArgs("%s(taskId, memberId): memberId must be a string", name)
	}
	member, err := identity.ParseID(s)
	if err != nil {
		return badArgs("%s(taskId, memberId): %v", name, err)
	}
	return call(ctx, id, member)
}

// LinkOffer is what linkDevice resolves to.
type LinkOffer struct {
	Code    string `json:"code"`    // the pairing code, as people type it
	QR      string `json:"qr"`      // its QR image, a data: URL of a PNG
	Expires int64  `json:"expires"` // Unix ms
}

// doLinkDevice is linkDevice({ label }) → { code, qr, expires }.
func (a *App) doLinkDevice(ctx context.Context, as args) (any, error) {
	label, err := as.options(0).str("label", "")
	if err != nil {
		return nil, fmt.Errorf("linkDevice: %w", err)
	}
	code, png, expires, err := a.LinkDevice(ctx, label)
	if err != nil {
		return nil, err
	}
	return LinkOffer{Code: code, QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(png), Expires: expires.UnixMilli()}, nil
}

// doLink is link(code, { label, timeout }) → the person: this empty
// profile becomes a new device of the person whose device shows code,
// waiting for it until the timeout (ms; default DefaultLinkTimeout), ctx
// or Close.
func (a *App) doLink(ctx context.Context, as args) (any, error) {
	code, ok := as.str(0)
	if !ok {
		return nil, badArgs("link(code): code must be a string")
	}
	o := as.options(1)
	label, err := o.str("label", "")
	if err != nil {
		return nil, fmt.Errorf("link: %w", err)
	}
	timeout := DefaultLinkTimeout
	if t, ok := o.num("timeout"); ok && t > 0 {
		timeout = time.Duration(min(t, float64(math.MaxInt64/int64(time.Millisecond))) * float64(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return a.Link(ctx, code, label)
}
