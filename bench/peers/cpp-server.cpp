/*
 * cpp-server: Apache Thrift's C++ servers serving the same
 * CalculatorService as calcd, from code thrift-compiler generates at
 * bench time (bench/compare.sh).  A peer for the benchmark only.
 *
 * usage: cpp-server nonblocking|threaded HOST PORT
 *   nonblocking: TNonblockingServer, libevent, framed, 2 IO threads
 *   threaded:    TThreadedServer, a thread per connection, buffered
 */
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>

#include <thrift/protocol/TBinaryProtocol.h>
#include <thrift/server/TNonblockingServer.h>
#include <thrift/server/TThreadedServer.h>
#include <thrift/transport/TBufferTransports.h>
#include <thrift/transport/TNonblockingServerSocket.h>
#include <thrift/transport/TServerSocket.h>

#include "CalculatorService.h"

using apache::thrift::protocol::TBinaryProtocolFactory;
using apache::thrift::server::TNonblockingServer;
using apache::thrift::server::TThreadedServer;
using apache::thrift::transport::TBufferedTransportFactory;
using apache::thrift::transport::TNonblockingServerSocket;
using apache::thrift::transport::TServerSocket;

namespace {

/* The tutorial's handler: add and subtract; the rest only to be complete. */
class CalculatorHandler : public calcd::CalculatorServiceIf {
public:
	int32_t add(const int32_t a, const int32_t b) override { return a + b; }
	int32_t subtract(const int32_t a, const int32_t b) override { return a - b; }
	void ping() override {}
	int32_t calculate(const int32_t, const calcd::Work &w) override
	{
		return w.num1 + w.num2;
	}
	void zip() override {}
	void getStruct(calcd::SharedStruct &out, const int32_t key) override { out.key = key; }
};

}

int
main(int argc, char **argv)
{
	if (argc != 4 || (std::strcmp(argv[1], "nonblocking") != 0 &&
	    std::strcmp(argv[1], "threaded") != 0)) {
		std::fprintf(stderr, "usage: cpp-server nonblocking|threaded HOST PORT\n");
		return 2;
	}
	const std::string host = argv[2];
	const int port = std::atoi(argv[3]);
	auto processor = std::make_shared<calcd::CalculatorServiceProcessor>(
	    std::make_shared<CalculatorHandler>());
	auto protocol = std::make_shared<TBinaryProtocolFactory>();

	if (std::strcmp(argv[1], "nonblocking") == 0) {
		auto socket = std::make_shared<TNonblockingServerSocket>(host, port);
		TNonblockingServer server(processor, protocol, socket);

		server.setNumIOThreads(2);
		server.serve();
	} else {
		TThreadedServer server(processor, std::make_shared<TServerSocket>(host, port),
		    std::make_shared<TBufferedTransportFactory>(), protocol);

		server.serve();
	}
	return 0;
}
