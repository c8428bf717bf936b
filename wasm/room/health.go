package room

import (
	"unicode/utf8"

	"github.com/task-messenger/task-messenger/wasm/identity"
)

// Sync health (issue #16): for each member, how it is connected, how far
// behind each way, since when, and why not — from what the room already
// knows: its ports, the verified lengths of the books, the receipts and the
// mirrors' vouches, the evidence of forks and removals.

// Health states, from the worst.
const (
	HealthRemoved = "removed" // removed from the task (or this profile was)
	HealthRefused = "refused" // it refused to pair, or wrote different things to different members
	HealthPairing = "pairing" // the two books of the pair are not both here yet
	HealthOffline = "offline" // no port open to it
	HealthBehind  = "behind"  // online, one side lacks messages of the other
	HealthSynced  = "synced"  // online, each side holds all of the other's
)

// Why codes of Health.Why.
const (
	WhyRemoved      = "removed"       // the task's creator removed it
	WhyYouRemoved   = "you-removed"   // this profile was removed from the task
	WhyFork         = "fork"          // it wrote different things to different members (Equivocations)
	WhyNotMember    = "not-a-member"  // it refused to pair: Refusal says what it answered
	WhyOffline      = "offline"       // no port to it; Since says since when
	WhyNotPaired    = "not-paired"    // its book to this profile, or ours to it, is not here yet
	WhyTheirsBehind = "theirs-behind" // their messages are still arriving here
	WhyOursBehind   = "ours-behind"   // they do not hold all of this profile's messages yet
)

// maxRefusal bounds a peer's refusal text kept (it is the peer's words).
const maxRefusal = 200

// A Lag is how much of a book one side holds: Have of Length.
type Lag struct {
	Have   uint64 `json:"have"`
	Length uint64 `json:"length"`
}

// Health is a member's sync health, as this profile sees it.
type Health struct {
	State string `json:"state"` // Health* constant
	// Via: how its messages and ours travel now: "webrtc", "relay",
	// "memory" (online), "mirror" (offline, and a mirror vouches for ours)
	// or "".
	Via string `json:"via"`
	// Theirs: of its messages to this profile, how many are here of how
	// many its latest head says; Ours: of this profile's messages, how
	// many its receipts say it holds (Read: has read; Mirrored: a mirror
	// vouches for).
	Theirs   Lag    `json:"theirs"`
	Ours     Lag    `json:"ours"`
	Read     uint64 `json:"read"`
	Mirrored uint64 `json:"mirrored"`
	// Why are the reasons it is not synced, worst first (Why* constants).
	Why []string `json:"why,omitempty"`
	// Refusal: what it answered when it refused to pair (its words,
	// clipped).
	Refusal string `json:"refusal,omitempty"`
}

// presence is when a peer's port last opened or closed. Guarded by
// Messenger.mu.
type presence struct {
	online bool
	since  int64 // Unix ms
}

// presentLocked records that peer's port opened (online) or closed; a
// port replacing another keeps the time it first came online. Called with
// m.mu held.
func (m *Messenger) presentLocked(peer identity.ID, online bool) {
	if m.presence == nil {
		m.presence = make(map[identity.ID]presence)
	}
	if p, ok := m.presence[peer]; ok && p.online == online {
		return
	}
	m.presence[peer] = presence{online: online, since: m.cfg.Now().UnixMilli()}
}

// refusedPairing records (why != "") or clears a member's refusal to pair
// in task t.
func (m *Messenger) refusedPairing(t TaskID, peer identity.ID, why string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := pendingKey{peer: peer, task: t}
	if why == "" {
		delete(m.refusals, k)
		return
	}
	if m.refusals == nil {
		m.refusals = make(map[pendingKey]string)
	}
	m.refusals[k] = clipText(why, maxRefusal)
}

// clipText cuts s to at most n bytes, on a rune boundary.
func clipText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// addHealth fills the Since and Health of ms, task id's members as
// Members lists them (this profile first, Have and Length set).
func (m *Messenger) addHealth(id TaskID, ms []MemberInfo) {
	if len(ms) == 0 {
		return
	}
	sent := ms[0].Length - min(ms[0].Length, 1) // this profile's messages: its log but the genesis
	youRemoved := ms[0].Removed
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := range ms[1:] {
		mi := &ms[i+1]
		p, seen := m.presence[mi.ID]
		if seen {
			mi.Since = p.since
		}
		h := healthOf(mi, sent, youRemoved, len(m.cfg.Mirrors) > 0)
		h.Refusal = m.refusals[pendingKey{peer: mi.ID, task: id}]
		if h.Refusal != "" && !mi.Paired {
			h.Why = append([]string{WhyNotMember}, h.Why...)
			h.State = worse(h.State, HealthRefused)
		}
		mi.Health = h
	}
}

// healthOf is a member's health from what Members lists of it; sent is
// the number of this profile's messages in the task.
func healthOf(mi *MemberInfo, sent uint64, youRemoved, mirrors bool) *Health {
	h := &Health{State: HealthSynced, Theirs: Lag{mi.Have, mi.Length}, Ours: Lag{min(mi.Received, sent), sent},
		Read: min(mi.Read, sent), Mirrored: min(mi.Mirrored, sent)}
	why := func(state, code string) {
		h.State = worse(h.State, state)
		h.Why = append(h.Why, code)
	}
	if youRemoved {
		why(HealthRemoved, WhyYouRemoved)
	}
	if mi.Removed {
		why(HealthRemoved, WhyRemoved)
	}
	if len(mi.Equivocations) > 0 {
		why(HealthRefused, WhyFork)
	}
	if !mi.Paired {
		why(HealthPairing, WhyNotPaired)
	}
	switch {
	case mi.Online:
		h.Via = mi.Transport
	case mirrors && h.Mirrored > 0:
		h.Via = "mirror"
		fallthrough
	default:
		why(HealthOffline, WhyOffline)
	}
	if mi.Paired && h.Theirs.Have < h.Theirs.Length {
		why(HealthBehind, WhyTheirsBehind)
	}
	if mi.Paired && h.Ours.Have < h.Ours.Length {
		why(HealthBehind, WhyOursBehind)
	}
	return h
}

// worse is the worse of two health states.
func worse(a, b string) string {
	rank := func(s string) int {
		switch s {
		case HealthRemoved:
			return 0
		case HealthRefused:
			return 1
		case HealthPairing:
			return 2
		case HealthOffline:
			return 3
		case HealthBehind:
			return 4
		}
		return 5
	}
	if rank(b) < rank(a) {
		return b
	}
	return a
}
