package app

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/task-messenger/task-messenger/relay"
	"github.com/task-messenger/task-messenger/relay/relaytest"
	"github.com/task-messenger/task-messenger/wasm/room"
)

// twoInTask starts Ana and Bob over a real relay, both in Ana's task.
func twoInTask(t *testing.T) (ana, bob testApp, id string) {
	url := relaytest.Start(t, relay.DefaultLimits())
	ana, bob = startApp(t, "ana", url), startApp(t, "bob", url)
	var task room.TaskInfo
	if err := json.Unmarshal(do(t, ana.App, "createTask", `[{"title":"files"}]`), &task); err != nil {
		t.Fatal(err)
	}
	id = `"` + task.ID.String() + `"`
	var code string
	if err := json.Unmarshal(do(t, ana.App, "invite", `[`+id+`]`), &code); err != nil {
		t.Fatal(err)
	}
	do(t, bob.App, "join", `["`+code+`",{"timeout":30000}]`)
	return ana, bob, id
}

func TestFilesTwoApps(t *testing.T) {
	ana, bob, id := twoInTask(t)
	anaEvents := record(ana.App)
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{7}, 200<<10)...)
	html := []byte("<html><script>alert(1)</script></html>")
	b64 := base64.StdEncoding.EncodeToString
	args := `[` + id + `,"look",{"files":[{"name":"cat.png","type":"image/png","data":"` + b64(png) +
		`"},{"name":"page\u202e.png","type":"image/png","data":"` + b64(html) + `"}]}]`
	var sent MessageView
	if err := json.Unmarshal(do(t, bob.App, "send", args), &sent); err != nil {
		t.Fatal(err)
	}
	files := room.FilesOf(sent.Data)
	if len(files) != 2 || files[1].Name != "page.png" || files[0].Size != int64(len(png)) {
		t.Fatalf("sent files %+v", files)
	}
	anaEvents.wait(t, "Bob's files at Ana", func(evs []Event) bool {
		return slices.ContainsFunc(evs, func(ev Event) bool {
			return ev.Type == room.EventMessage && ev.Message != nil && ev.Message.ID == sent.ID && !ev.Message.Pending
		})
	})
	var img, lie FileView
	if err := json.Unmarshal(do(t, ana.App, "file", `[`+id+`,"`+sent.ID+`",0]`), &img); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(img.Data, png) || img.Type != "image/png" || !img.Preview || img.Name != "cat.png" {
		t.Fatalf("the image: %d bytes, type %q, preview %v", len(img.Data), img.Type, img.Preview)
	}
	// HTML that claims to be a PNG: handed over as bytes, never as a type that runs.
	if err := json.Unmarshal(do(t, ana.App, "file", `[`+id+`,{"id":"`+sent.ID+`"},1]`), &lie); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(lie.Data, html) || lie.Type != "application/octet-stream" || lie.Preview || lie.Claimed != "image/png" {
		t.Fatalf("a lying file: type %q, preview %v, claimed %q", lie.Type, lie.Preview, lie.Claimed)
	}
	// The JS API's way in the tab that runs the App: bytes, not base64.
	out, err := bob.DoSendFiles(testCtx(t), json.RawMessage(`[`+id+`,"direct",{"replyTo":"`+sent.ID+`"}]`), []room.FileData{{Name: "d.gif", Type: "image/gif", Data: []byte("GIF89a...")}})
	var direct MessageView
	if err != nil || json.Unmarshal(out, &direct) != nil || direct.Refs.Cause == nil || len(room.FilesOf(direct.Data)) != 1 {
		t.Fatalf("DoSendFiles: %s %v", out, err)
	}
	got, err := bob.DoFile(testCtx(t), json.RawMessage(`[`+id+`,"`+direct.ID+`",0]`))
	if err != nil || string(got.Data) != "GIF89a..." || got.Type != "image/gif" {
		t.Fatalf("DoFile: %+v %v", got, err)
	}
	var lim Limits
	if err := json.Unmarshal(do(t, ana.App, "limits", `[]`), &lim); err != nil || lim.File != room.MaxFile || lim.Files != room.MaxFiles {
		t.Fatalf("limits %+v %v", lim, err)
	}
	// Sending without files is unchanged.
	var plain MessageView
	json.Unmarshal(do(t, ana.App, "send", `[`+id+`,"no files",{"files":null}]`), &plain)
	if plain.ID == "" || room.FilesOf(plain.Data) != nil {
		t.Fatalf("a send without files: %+v", plain)
	}
}

func TestFilesBadInput(t *testing.T) {
	ana, _, id := twoInTask(t)
	big := base64.StdEncoding.EncodeToString(make([]byte, room.MaxFile+1))
	for _, c := range []struct {
		method, args, want string
	}{
		{"send", `[` + id + `,"x",{"files":"nope"}]`, "files must be an array"},
		{"send", `[` + id + `,"x",{"files":[{},{},{},{},{}]}]`, "at most 4 per message"},
		{"send", `[` + id + `,"x",{"files":[{"name":"a","data":"!!"}]}]`, "files must be an array"},
		{"file", `[` + id + `]`, "a message or its id is required"},
		{"file", `[` + id + `,"x/1",0]`, "bad message id"},
		{"file", `[` + id + `,"` + ana.ID().String() + `/1",9]`, "index must be 0 to 3"},
		{"file", `[` + id + `,"` + ana.ID().String() + `/1",0]`, "no such file"},
	} {
		_, err := ana.Do(testCtx(t), c.method, json.RawMessage(c.args))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s(%.80s): %v, want %q", c.method, c.args, err, c.want)
		}
	}
	_, err := ana.Do(testCtx(t), "send", json.RawMessage(`[`+id+`,"x",{"files":[{"name":"big","data":"`+big+`"}]}]`))
	if !errors.Is(err, room.ErrFileTooLarge) || !strings.Contains(err.Error(), "at most 10485760 (10 MiB)") {
		t.Fatalf("oversized: %v", err)
	}
}
