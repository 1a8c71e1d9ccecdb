package suite_test

import (
	"context"
	"fmt"
	"log"
	"net/http"

	"github.com/ws6455/ws6455/autobahn/suite"
)

// Pick cases the way the real suite's configuration does.
func ExampleSelect() {
	cases, err := suite.Select("5.*,7.7.*", "5.19,5.20")
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(len(cases), cases[0].ID, cases[len(cases)-1].ID)
	// Output: 31 5.1 7.7.13
}

// Test a server: every case runs on its own connection, two at a time,
// and the reports go to a directory the checker (autobahn/check) reads.
func ExampleFuzzingClient() {
	cases, err := suite.Select("1.*,2.*", "")
	if err != nil {
		log.Fatal(err)
	}
	results, err := suite.FuzzingClient(context.Background(), "ws://127.0.0.1:9001", cases,
		&suite.Options{Agent: "my-server", Parallel: 2})
	if err != nil {
		log.Fatal(err)
	}
	if err := suite.WriteReports("reports/servers", "my-server", results); err != nil {
		log.Fatal(err)
	}
	for _, r := range results {
		fmt.Println(r.ID, r.Behavior, r.BehaviorClose)
	}
}

// Test a client: serve the real suite's control protocol; the client asks
// /getCaseCount, runs /runCase?case=N&agent=NAME for each case and calls
// /updateReports?agent=NAME.
func ExampleNewServer() {
	srv := suite.NewServer(nil, "reports/clients", nil)
	defer srv.Close()
	log.Fatal(http.ListenAndServe("127.0.0.1:9002", srv))
}
