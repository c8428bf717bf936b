package relay

import "github.com/task-messenger/task-messenger/relay/wire"

// Batches (wire.BatchProtocol): the codec lives in package wire, with the
// client; these are the server's names for it.
const (
	BatchProtocol  = wire.BatchProtocol
	sendRecvHeader = wire.SendRecvHeader
)

var (
	appendSendRecv = wire.AppendSendRecv
	parseSendRecv  = wire.ParseSendRecv
	decodeMessage  = wire.DecodeMessage
)

// DecodeBatch decodes a message of BatchProtocol (wire.DecodeBatch).
func DecodeBatch(b []byte) ([]*Frame, error) { return wire.DecodeBatch(b) }
