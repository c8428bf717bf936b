package app

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/task-messenger/task-messenger/wasm/room"
)

// Files (room/files.go): send(taskId, text, { replyTo, files }) and
// file(taskId, message, index). Across Do, a file's bytes are base64 in
// JSON (the jsapi turns File and Blob objects into it and back).

// FileArg is a file given to send: files[i] = { name, type, data }.
type FileArg struct {
	Name string `json:"name"`
	Type string `json:"type"`
	Data []byte `json:"data"` // base64 in JSON
}

// FileView is a file as file() answers it: type is the one the page may
// give its Blob (room.SafeType: an image type whose bytes match it, else
// application/octet-stream), claimed the type the message says, preview
// whether the page may show it inline.
type FileView struct {
	Name    string `json:"name"`
	Type    string `json:"type"`
	Claimed string `json:"claimed"`
	Size    int64  `json:"size"`
	Preview bool   `json:"preview"`
	Data    []byte `json:"data"` // base64 in JSON
}

// DefaultFileWait bounds how long file() waits for a file's pages from
// its author (options.timeout changes it).
const DefaultFileWait = 30 * time.Second

// SendFiles is Send with files (room.SendFiles).
func (a *App) SendFiles(ctx context.Context, id room.TaskID, text string, replyTo *room.Ref, files []room.FileData) (v MessageView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		msg, err := m.SendFiles(ctx, id, text, replyTo, files)
		if err == nil {
			v = View(&msg, m)
		}
		return err
	})
	return v, err
}

// File returns file index of a message, verified (room.File).
func (a *App) File(ctx context.Context, id room.TaskID, ref room.Ref, index int) (v FileView, err error) {
	err = a.withMessenger(ctx, func(ctx context.Context, m *room.Messenger) error {
		f, data, err := m.File(ctx, id, ref, index)
		if err != nil {
			return err
		}
		typ := room.SafeType(f.Type, data)
		v = FileView{Name: f.Name, Type: typ, Claimed: f.Type, Size: f.Size, Preview: typ != "application/octet-stream", Data: data}
		return nil
	})
	return v, err
}

// doSendFiles is send(taskId, text, { replyTo, files }) with files given.
func (a *App) doSendFiles(ctx context.Context, id room.TaskID, text string, reply *room.Ref, raw json.RawMessage) (any, error) {
	var args []FileArg
	if kind(raw) != "array" || json.Unmarshal(raw, &args) != nil {
		return nil, badArgs("send: files must be an array of { name, type, data (base64) }")
	}
	if len(args) > room.MaxFiles {
		return nil, fmt.Errorf("send: %w: %d files, at most %d per message", room.ErrFileTooLarge, len(args), room.MaxFiles)
	}
	files := make([]room.FileData, len(args))
	for i, f := range args {
		files[i] = room.FileData{Name: f.Name, Type: f.Type, Data: f.Data}
	}
	return a.SendFiles(ctx, id, text, reply, files)
}

// doFile is file(taskId, message, index, { timeout }) → { name, type,
// claimed, size, preview, data }.
func (a *App) doFile(ctx context.Context, as args) (any, error) {
	const usage = "file(taskId, message, index)"
	id, err := as.task(0, usage)
	if err != nil {
		return nil, err
	}
	ref, err := messageRef(as.at(1), usage+": message")
	if err != nil {
		return nil, err
	}
	if ref == nil {
		return nil, badArgs("%s: a message or its id is required", usage)
	}
	var index int
	if kind(as.at(2)) != "number" || json.Unmarshal(as.at(2), &index) != nil || index < 0 || index >= room.MaxFiles {
		return nil, badArgs("%s: index must be 0 to %d", usage, room.MaxFiles-1)
	}
	wait := DefaultFileWait
	if ms, ok := as.options(3).num("timeout"); ok && ms > 0 {
		wait = time.Duration(ms * float64(time.Millisecond))
	}
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return a.File(ctx, id, *ref, index)
}

// DoSendFiles is send(taskId, text, { replyTo }) (args: its JSON, without
// files) with the files given as bytes: the JS API's way in the tab that
// runs the App, where base64 in JSON would cost several passes over each
// file.
func (a *App) DoSendFiles(ctx context.Context, raw json.RawMessage, files []room.FileData) (json.RawMessage, error) {
	as, err := parseArgs(raw)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	id, err := as.task(0, "send(taskId, text)")
	if err != nil {
		return nil, err
	}
	text, ok := as.str(1)
	if !ok {
		return nil, badArgs("send(taskId, text): text must be a string")
	}
	reply, err := messageRef(as.options(2)["replyTo"], "send: replyTo")
	if err != nil {
		return nil, err
	}
	v, err := a.SendFiles(ctx, id, text, reply, files)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

// DoFile is file(taskId, message, index, { timeout }) (args: its JSON)
// answering the bytes as they are, not in JSON.
func (a *App) DoFile(ctx context.Context, raw json.RawMessage) (FileView, error) {
	as, err := parseArgs(raw)
	if err != nil {
		return FileView{}, fmt.Errorf("file: %w", err)
	}
	v, err := a.doFile(ctx, as)
	if err != nil {
		return FileView{}, err
	}
	return v.(FileView), nil
}
