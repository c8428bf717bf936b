package room

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// An invite code is the host's peer id, the task id (the seed's
// `bob_id+task_id`) and a random secret, as one copy-paste-safe string of
// 112 characters:
//
//	"tm2" ‖ z-base-32( host id (32) ‖ task id (16) ‖ secret (16) ‖ checksum (4) )
//
// The checksum is the first 4 bytes of SHA-256 of the version prefix, the
// host id, the task id and the secret, so a mistyped, truncated or foreign
// code is an error before anything is sent, never a hang. The secret is the
// capability: the host keeps its hash (and its expiry, and whether it was
// revoked) in its private tasks book and admits a newcomer only with a
// secret it issued for that task. Version 1 codes ("tm1", no secret) admit
// no one and are refused with a clear error.

// InvitePrefix starts every invite code of this version.
const InvitePrefix = "tm2"

// oldInvitePrefix starts the codes of version 1, which carried no secret.
const oldInvitePrefix = "tm1"

// InviteSecretSize is the size of an invite's secret.
const InviteSecretSize = 16

// TaskIDSize is the size of a task id.
const TaskIDSize = 16

// ErrBadInvite means a code that is not a valid invite.
var ErrBadInvite = errors.New("room: bad invite code")

var zbase32 = base32.NewEncoding("ybndrfg8ejkmcpqxot1uwisza345h769").WithPadding(base32.NoPadding)

// A TaskID names a task; in text, 26 characters of z-base-32.
type TaskID [TaskIDSize]byte

// NewTaskID returns a random task id.
func NewTaskID() (TaskID, error) {
	var t TaskID
	_, err := rand.Read(t[:])
	return t, err
}

func (t TaskID) String() string { return zbase32.EncodeToString(t[:]) }

// ParseTaskID parses the text form of a task id.
func ParseTaskID(s string) (TaskID, error) {
	var t TaskID
	b, err := zbase32.DecodeString(s)
	if err != nil || len(b) != TaskIDSize || zbase32.EncodeToString(b) != s {
		return t, fmt.Errorf("room: bad task id %q", clip(s))
	}
	copy(t[:], b)
	return t, nil
}

// An Invite is what a code carries.
type Invite struct {
	Host   identity.ID
	Task   TaskID
	Secret [InviteSecretSize]byte
}

// NewInvite returns an invite of host to task with a random secret.
func NewInvite(host identity.ID, task TaskID) (Invite, error) {
	inv := Invite{Host: host, Task: task}
	_, err := rand.Read(inv.Secret[:])
	return inv, err
}

func (inv Invite) checksum() []byte {
	h := sha256.New()
	h.Write([]byte(InvitePrefix))
	h.Write(inv.Host[:])
	h.Write(inv.Task[:])
	h.Write(inv.Secret[:])
	return h.Sum(nil)[:4]
}

// inviteHash is what the host keeps of an invite's secret.
type inviteHash [sha256.Size]byte

func hashSecret(secret []byte) inviteHash { return sha256.Sum256(secret) }

// short names an invite in messages and records: 8 hex digits of its hash.
func (h inviteHash) short() string { return fmt.Sprintf("%x", h[:4]) }

// Code returns the invite as text.
func (inv Invite) Code() string {
	b := make([]byte, 0, inviteSize)
	b = append(b, inv.Host[:]...)
	b = append(b, inv.Task[:]...)
	b = append(b, inv.Secret[:]...)
	b = append(b, inv.checksum()...)
	return InvitePrefix + zbase32.EncodeToString(b)
}

const inviteSize = identity.IDSize + TaskIDSize + InviteSecretSize + 4

// inviteTextSize is the length of a code.
var inviteTextSize = len(InvitePrefix) + zbase32.EncodedLen(inviteSize)

// ParseInvite parses a code, forgiving surrounding spaces and the case of
// letters (copy and paste), and says clearly what is wrong with a bad one.
func ParseInvite(code string) (Invite, error) {
	code = strings.ToLower(strings.TrimSpace(code))
	switch {
	case code == "":
		return Invite{}, fmt.Errorf("%w: empty", ErrBadInvite)
	case strings.HasPrefix(code, oldInvitePrefix):
		return Invite{}, fmt.Errorf("%w: an invite of an older version (%s), which admits no one any more: ask for a new invite", ErrBadInvite, oldInvitePrefix)
	case !strings.HasPrefix(code, InvitePrefix):
		return Invite{}, fmt.Errorf("%w: not a task-messenger invite (it starts with %q)", ErrBadInvite, InvitePrefix)
	case len(code) < inviteTextSize:
		return Invite{}, fmt.Errorf("%w: too short (%d of %d characters): was it cut when copied?", ErrBadInvite, len(code), inviteTextSize)
	case len(code) > inviteTextSize:
		return Invite{}, fmt.Errorf("%w: too long (%d of %d characters)", ErrBadInvite, len(code), inviteTextSize)
	}
	b, err := zbase32.DecodeString(code[len(InvitePrefix):])
	if err != nil || zbase32.EncodeToString(b) != code[len(InvitePrefix):] {
		return Invite{}, fmt.Errorf("%w: a character is not one an invite uses: mistyped?", ErrBadInvite)
	}
	var inv Invite
	rest := b
	rest = rest[copy(inv.Host[:], rest):]
	rest = rest[copy(inv.Task[:], rest):]
	rest = rest[copy(inv.Secret[:], rest):]
	if !bytes.Equal(rest, inv.checksum()) {
		return Invite{}, fmt.Errorf("%w: the checksum does not match: mistyped?", ErrBadInvite)
	}
	if err := inv.Host.Check(); err != nil {
		return Invite{}, fmt.Errorf("%w: host: %w", ErrBadInvite, err)
	}
	return inv, nil
}

func clip(s string) string {
	if len(s) > 64 {
		return s[:64] + "…"
	}
	return s
}

// MarshalText writes the task id as text.
func (t TaskID) MarshalText() ([]byte, error) { return []byte(t.String()), nil }

// UnmarshalText parses the text form of a task id.
func (t *TaskID) UnmarshalText(b []byte) error {
	v, err := ParseTaskID(string(b))
	if err != nil {
		return err
	}
	*t = v
	return nil
}
