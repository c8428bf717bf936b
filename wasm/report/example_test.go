package report_test

import (
	"fmt"

	"github.com/task-messenger/task-messenger/wasm/report"
)

func ExampleEncode() {
	b, err := report.Encode(&report.Frame{Type: report.TypeError, At: 1700000000000, Body: &report.Error{Text: "relay unreachable"}})
	if err != nil {
		panic(err)
	}
	fmt.Println(string(b))
	f, err := report.Decode(b)
	if err != nil {
		panic(err)
	}
	fmt.Println(f.Type, f.Body.(*report.Error).Text)
	// Output:
	// {"v":2,"type":"error","at":1700000000000,"body":{"text":"relay unreachable"}}
	// error relay unreachable
}
