package jsapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/app"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/room"
	"github.com/task-messenger/task-messenger/wasm/tabs"
)

// send is app.send(taskId, text, { replyTo, files }): each File or Blob
// of files is read and handed to Do as { name, type, data } (data in
// base64); without files it is the plain call.
func (ja *jsApp) send(args []js.Value) (any, error) {
	ctx := context.Background()
	if len(args) < 3 || args[2].Type() != js.TypeObject {
		return ja.call(ctx, "send", args)
	}
	files := args[2].Get("files")
	if files.IsUndefined() || files.IsNull() {
		return ja.call(ctx, "send", args)
	}
	read, data, err := readFiles(ctx, files)
	if err != nil {
		return nil, fmt.Errorf("send: %w", err)
	}
	opts := js.Global().Get("Object").Call("assign", js.Global().Get("Object").New(), args[2])
	if a := ja.local(); a != nil {
		// The App runs here: the bytes go to it as they are.
		opts.Delete("files")
		in, err := stringifyArgs(append([]js.Value{args[0], args[1], opts}, args[3:]...))
		if err != nil {
			return nil, fmt.Errorf("send: %w", err)
		}
		fds := make([]room.FileData, len(data))
		for i, f := range data {
			fds[i] = room.FileData{Name: read.Index(i).Get("name").String(), Type: read.Index(i).Get("type").String(), Data: f}
		}
		out, err := a.DoSendFiles(ctx, in, fds)
		if err != nil {
			return nil, err
		}
		return jsutil.Parse(out)
	}
	// Another tab runs it: base64 in the JSON of the call.
	for i, f := range data {
		read.Index(i).Set("data", base64.StdEncoding.EncodeToString(f))
	}
	opts.Set("files", read)
	return ja.call(ctx, "send", append([]js.Value{args[0], args[1], opts}, args[3:]...))
}

// local is the App this tab runs (the writer tab, or a profile in
// memory); nil in a follower tab.
func (ja *jsApp) local() *app.App {
	svc := ja.svc
	if t, ok := svc.(*tabs.Tab); ok {
		s := t.Local()
		if s == nil {
			return nil
		}
		as, _ := s.(appService)
		return as.App
	}
	as, _ := svc.(appService)
	return as.App
}

// stringifyArgs is JSON.stringify(args).
func stringifyArgs(args []js.Value) ([]byte, error) {
	vals := make([]any, len(args))
	for i, v := range args {
		vals[i] = v
	}
	return jsutil.Stringify(js.ValueOf(vals))
}

// readFiles reads an array of Blobs (or Files) into { name, type }
// objects and their bytes, refusing more than room.MaxFiles or one over
// room.MaxFile before reading it.
func readFiles(ctx context.Context, files js.Value) (js.Value, [][]byte, error) {
	if !js.Global().Get("Array").Call("isArray", files).Bool() {
		return js.Value{}, nil, errors.New("files must be an array of File or Blob")
	}
	if n := files.Length(); n > room.MaxFiles {
		return js.Value{}, nil, fmt.Errorf("%w: %d files, at most %d per message", room.ErrFileTooLarge, n, room.MaxFiles)
	}
	out := js.Global().Get("Array").New()
	var all [][]byte
	for i := range files.Length() {
		f := files.Index(i)
		if !f.InstanceOf(js.Global().Get("Blob")) {
			return js.Value{}, nil, fmt.Errorf("files[%d] is not a File or Blob", i)
		}
		if size := f.Get("size").Int(); size > room.MaxFile {
			return js.Value{}, nil, fmt.Errorf("%w: files[%d] is %d bytes, at most %d (%d MiB)", room.ErrFileTooLarge, i, size, room.MaxFile, room.MaxFile>>20)
		}
		buf, err := jsutil.Await(ctx, f.Call("arrayBuffer"))
		if err != nil {
			return js.Value{}, nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		data, err := jsutil.Bytes(buf)
		if err != nil {
			return js.Value{}, nil, fmt.Errorf("files[%d]: %w", i, err)
		}
		o := js.Global().Get("Object").New()
		name := f.Get("name")
		if name.Type() != js.TypeString {
			name = js.ValueOf("file")
		}
		o.Set("name", name)
		o.Set("type", f.Get("type"))
		out.Call("push", o)
		all = append(all, data)
	}
	return out, all, nil
}

// file is app.file(taskId, message, index, { timeout }) → a File (a Blob
// with the file's name) whose type is safe to use (app.FileView: an image
// type whose bytes match it, else application/octet-stream), verified
// against the hash its message gives.
func (ja *jsApp) file(args []js.Value) (any, error) {
	in, err := stringifyArgs(args)
	if err != nil {
		return nil, fmt.Errorf("file: %w", err)
	}
	var v app.FileView
	if a := ja.local(); a != nil {
		if v, err = a.DoFile(context.Background(), in); err != nil {
			return nil, err
		}
	} else {
		out, err := ja.svc.Do(context.Background(), "file", in)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(out, &v); err != nil {
			return nil, fmt.Errorf("file: %w", err)
		}
	}
	parts := js.Global().Get("Array").New(jsutil.Uint8Array(v.Data))
	opts := js.Global().Get("Object").New()
	opts.Set("type", v.Type)
	f := js.Global().Get("File").New(parts, v.Name, opts)
	return f, nil
}
