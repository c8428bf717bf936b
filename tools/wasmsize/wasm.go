package main

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"strings"

	"github.com/andybalholm/brotli"

	"github.com/task-messenger/task-messenger/internal/wasmbuild"
)

// Section ids of the WebAssembly binary format.
const (
	secCustom = 0
	secImport = 2
	secCode   = 10
	secData   = 11
)

// A module is what wasmsize reads of a WebAssembly binary.
type module struct {
	imported int            // imported functions: code body i is function imported+i
	bodies   []int          // size of each code body
	names    map[int]string // function index → name (the name section)
	data     int            // bytes of the data section
	custom   [][2]int       // [start, end) of each custom section, header included
}

var errShort = errors.New("truncated module")

// reader reads the integers and names inside a section's body.
type reader struct {
	b   []byte
	off int
	err error
}

func (r *reader) byte() byte {
	if r.err != nil || r.off >= len(r.b) {
		r.err = errShort
		return 0
	}
	r.off++
	return r.b[r.off-1]
}

func (r *reader) uleb() int {
	var v, shift int
	for shift < 35 {
		c := r.byte()
		v |= int(c&0x7f) << shift
		if c&0x80 == 0 {
			return v
		}
		shift += 7
	}
	r.err = fmt.Errorf("bad LEB128 at %d", r.off)
	return 0
}

func (r *reader) bytes(n int) []byte {
	if r.err != nil || n < 0 || r.off+n > len(r.b) {
		r.err = errShort
		return nil
	}
	r.off += n
	return r.b[r.off-n : r.off]
}

func (r *reader) name() string { return string(r.bytes(r.uleb())) }

// parse reads the sections wasmsize needs.
func parse(b []byte) (*module, error) {
	secs, err := wasmbuild.Sections(b)
	if err != nil {
		return nil, err
	}
	m := &module{names: map[int]string{}}
	for _, s := range secs {
		body := &reader{b: b[s.Body:s.End]}
		switch s.ID {
		case secImport:
			m.imports(body)
		case secCode:
			for n := body.uleb(); n > 0 && body.err == nil; n-- {
				size := body.uleb()
				body.bytes(size)
				m.bodies = append(m.bodies, size)
			}
		case secData:
			m.data = s.End - s.Body
		case secCustom:
			m.custom = append(m.custom, [2]int{s.Start, s.End})
			if body.name() == "name" {
				m.nameSection(body)
			}
		}
		if body.err != nil {
			return nil, fmt.Errorf("section %d: %w", s.ID, body.err)
		}
	}
	return m, nil
}

// imports counts the imported functions.
func (m *module) imports(r *reader) {
	for n := r.uleb(); n > 0 && r.err == nil; n-- {
		r.name()
		r.name()
		switch r.byte() {
		case 0: // function: type index
			r.uleb()
			m.imported++
		case 1: // table: reference type, limits
			r.byte()
			limits(r)
		case 2: // memory
			limits(r)
		case 3: // global: value type, mutability
			r.byte()
			r.byte()
		}
	}
}

func limits(r *reader) {
	if r.byte()&1 != 0 {
		r.uleb()
	}
	r.uleb()
}

// nameSection reads the function names (subsection 1).
func (m *module) nameSection(r *reader) {
	for r.off < len(r.b) && r.err == nil {
		id := r.byte()
		sub := &reader{b: r.bytes(r.uleb())}
		if id != 1 {
			continue
		}
		for n := sub.uleb(); n > 0 && sub.err == nil; n-- {
			i := sub.uleb()
			m.names[i] = sub.name()
		}
		r.err = sub.err
	}
}

func (m *module) codeBytes() int {
	n := 0
	for _, s := range m.bodies {
		n += s
	}
	return n
}

// stripped returns b without its custom sections (names, DWARF, build
// id): what -ldflags='-s -w' leaves.
func (m *module) stripped(b []byte) []byte {
	out := make([]byte, 0, len(b))
	at := 0
	for _, c := range m.custom {
		out = append(out, b[at:c[0]]...)
		at = c[1]
	}
	return append(out, b[at:]...)
}

// byPackage sums code bytes by Go package (of pkgs, the packages linked)
// and by module (the package path cut to its repository, or the standard
// library's top directory).
func (m *module) byPackage(pkgs []string) (byPkg, byMod map[string]int) {
	byPkg, byMod = map[string]int{}, map[string]int{}
	mangled := map[string]string{}
	for _, p := range pkgs {
		mangled[mangle(p)] = p
	}
	for i, size := range m.bodies {
		p := packageOf(m.names[m.imported+i], mangled)
		byPkg[p] += size
		byMod[moduleOf(p)] += size
	}
	return byPkg, byMod
}

// byFunction returns the code bytes of each function, by its name.
func (m *module) byFunction() map[string]int {
	sizes := make(map[string]int, len(m.bodies))
	for i, size := range m.bodies {
		sizes[m.names[m.imported+i]] += size
	}
	return sizes
}

// mangle spells a package path as the Go linker does in a WebAssembly
// name section: every byte but a letter, digit, '_' or '.' becomes '_'.
func mangle(pkg string) string {
	return strings.Map(func(r rune) rune {
		if r == '.' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' {
			return r
		}
		return '_'
	}, pkg)
}

// packageOf returns the package of a mangled symbol such as
// "github.com_pion_webrtc_v4.__PeerConnection_.Close": the longest
// package of pkgs (by mangled path) that prefixes it before a dot.
// Symbols of no package ("type_.eq…") go by what precedes their first dot.
func packageOf(sym string, pkgs map[string]string) string {
	if sym == "" {
		return "(unnamed)"
	}
	for i := len(sym) - 1; i > 0; i-- {
		if sym[i] == '.' {
			if p, ok := pkgs[sym[:i]]; ok {
				return p
			}
		}
	}
	if i := strings.Index(sym, "."); i > 0 {
		return sym[:i]
	}
	return sym
}

// moduleOf cuts a package path to its module's likely root: three
// elements for a hosted path ("github.com/pion/webrtc"), the top
// directory for the standard library ("crypto").
func moduleOf(pkg string) string {
	parts := strings.Split(pkg, "/")
	if strings.Contains(parts[0], ".") {
		parts = parts[:min(3, len(parts))]
		return strings.Join(parts, "/")
	}
	if parts[0] == "vendor" || parts[0] == "internal" {
		return strings.Join(parts[:min(2, len(parts))], "/")
	}
	return parts[0]
}

// compressed returns the sizes of b under gzip -9 and brotli 11.
func compressed(b []byte) (gz, br int) {
	var zb, bb bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&zb, gzip.BestCompression)
	zw.Write(b)
	zw.Close()
	bw := brotli.NewWriterLevel(&bb, brotli.BestCompression)
	bw.Write(b)
	bw.Close()
	return zb.Len(), bb.Len()
}
