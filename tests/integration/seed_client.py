from thrift.transport import TSocket
from thrift.transport import TTransport
from thrift.protocol import TBinaryProtocol

from tutorial.calculator import CalculatorService

def perform_calculations():
    transport = TSocket.TSocket('localhost', 9090)
    transport = TTransport.TBufferedTransport(transport)
    protocol = TBinaryProtocol.TBinaryProtocol(transport)

    client = CalculatorService.Client(protocol)
    transport.open()

    result = client.add(5, 3)
    print('5 + 3 =', result)

    result = client.subtract(10, 4)
    print('10 - 4 =', result)

    transport.close()

perform_calculations()
