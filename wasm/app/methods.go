package app

// Methods are the names Do answers, in the order the README lists them.
var Methods = []string{
	"createTask", "rename", "invite", "revokeInvite", "join", "send", "sendMany", "timeline", "tasks",
	"members", "mirrors", "read", "removeMember", "allowRemoving", "export", "import", "reset",
	"recoveryCode", "recover", "restoreStatus", "finishRestore", "linkDevice", "link", "devices",
	"revokeDevice", "person", "search", "setName", "name", "edit", "delete", "lookup", "limits",
	"uiState", "setUIState", "file", "usage", "leave", "forget",
}
