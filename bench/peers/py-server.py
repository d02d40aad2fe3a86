# py-server: the user's tutorial server (a TSimpleServer, buffered, binary),
# serving add from code thrift-compiler generates at bench time.
# A peer for bench/compare.sh only.
#
# usage: python3 py-server.py GEN_PY_DIR HOST PORT
import sys

sys.path.insert(0, sys.argv[1])

from thrift.transport import TSocket
from thrift.transport import TTransport
from thrift.protocol import TBinaryProtocol
from thrift.server import TServer

from example.calculator import CalculatorService


class CalculatorHandler:
    def add(self, a, b):
        return a + b

    def subtract(self, a, b):
        return a - b


handler = CalculatorHandler()
processor = CalculatorService.Processor(handler)
transport = TSocket.TServerSocket(host=sys.argv[2], port=int(sys.argv[3]))
tfactory = TTransport.TBufferedTransportFactory()
pfactory = TBinaryProtocol.TBinaryProtocolFactory()

server = TServer.TSimpleServer(processor, transport, tfactory, pfactory)
server.serve()
