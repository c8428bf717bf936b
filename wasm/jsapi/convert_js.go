//go:build js && wasm

package jsapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"syscall/js"

	"github.com/task-messenger/task-messenger/wasm/backup"
	"github.com/task-messenger/task-messenger/wasm/internal/jsutil"
	"github.com/task-messenger/task-messenger/wasm/journal"
)

// jsValue turns a Go value into a JS one through JSON.
func jsValue(v any) (js.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return js.Undefined(), err
	}
	return jsutil.Parse(b)
}

// exportValue is db.export({ passphrase }): the export of db, sealed if
// opts.passphrase is given.
func exportValue(db *journal.DB, opts js.Value) (any, error) {
	pass, err := stringOpt(opts, "passphrase", "")
	if err != nil {
		return nil, fmt.Errorf("export: %w", err)
	}
	b, err := backup.Of(context.Background(), db, pass)
	if err != nil {
		return nil, err
	}
	return jsValue(b)
}

// parseExport reads import's argument: an export object or its JSON text.
func parseExport(args []js.Value) (*journal.Export, error) {
	if len(args) < 1 {
		return nil, errors.New("import(json): an export (object or JSON text) is required")
	}
	var text []byte
	if args[0].Type() == js.TypeString {
		text = []byte(args[0].String())
	} else {
		var err error
		if text, err = jsutil.Stringify(args[0]); err != nil {
			return nil, fmt.Errorf("import(json): %w", err)
		}
	}
	var ex journal.Export
	if err := json.Unmarshal(text, &ex); err != nil {
		return nil, fmt.Errorf("import(json): not an export: %w", err)
	}
	return &ex, nil
}
