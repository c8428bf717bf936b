package room

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// bookCalls are the journal.Book methods that take the book's lock.
var bookCalls = map[string]bool{
	"Len": true, "Head": true, "Info": true, "Have": true, "Get": true, "Name": true,
	"Append": true, "AppendBatch": true, "Shown": true, "Range": true, "Read": true,
}

// TestLockNotHeldOverBooks keeps the rule of Messenger.mu: it is never
// held while a book is read or written, as a book's lock is held while
// the DB's hooks run and the room's hook takes mu (a page deadlocked when
// a joiner asked a departed member's book its length under mu). It reads
// this package's source: in each function, between m.mu.Lock() and its
// unlock, and in functions named …Locked, no call of a book method.
func TestLockNotHeldOverBooks(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			fn, ok := d.(*ast.FuncDecl)
			if !ok || fn.Body == nil {
				continue
			}
			for _, pos := range bookCallsUnderMu(fn) {
				t.Errorf("%s: %s calls a book while holding m.mu", fset.Position(pos), fn.Name.Name)
			}
		}
	}
}

// bookCallsUnderMu returns where fn calls a book method with m.mu held,
// following its statements in source order (a syntactic reading: mu taken
// by m.mu.Lock(), let go by m.mu.Unlock() not deferred; function literals
// are read as run where they stand).
func bookCallsUnderMu(fn *ast.FuncDecl) []token.Pos {
	held := strings.HasSuffix(fn.Name.Name, "Locked")
	var out []token.Pos
	ast.Inspect(fn.Body, func(n ast.Node) bool {
		if _, ok := n.(*ast.DeferStmt); ok {
			return false // a deferred unlock runs at the end
		}
		call, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := call.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		switch recv := exprString(sel.X); {
		case recv == "m.mu" && sel.Sel.Name == "Lock":
			held = true
		case recv == "m.mu" && sel.Sel.Name == "Unlock":
			held = false
		case held && bookCalls[sel.Sel.Name] && !strings.HasPrefix(recv, "m.db") && !strings.HasPrefix(recv, "m.cfg"):
			out = append(out, call.Pos())
		}
		return true
	})
	return out
}

// exprString is a selector chain as written ("m.mu", "mb.in"); "" for
// anything else.
func exprString(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.Ident:
		return x.Name
	case *ast.SelectorExpr:
		if s := exprString(x.X); s != "" {
			return s + "." + x.Sel.Name
		}
	}
	return ""
}
