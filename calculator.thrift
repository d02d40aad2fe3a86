/*
 * calculator.thrift — exactly what calcd serves.
 *
 * CalculatorService keeps the field ids of the user's tutorial IDL
 * (add and subtract); Calculator is the Apache Thrift tutorial's service
 * (tutorial.thrift + shared.thrift), wire-identical, so the tutorial's
 * clients work unmodified.  calcd serves every method below under either
 * service name, plain or multiplexed ("CalculatorService:add").
 */

namespace py example.calculator
namespace cpp calcd
namespace c_glib calcd
namespace java calcd
namespace go calcd
namespace rb Calcd
namespace perl Calcd
namespace php Calcd
namespace netstd Calcd

enum Operation {
  ADD = 1,
  SUBTRACT = 2,
  MULTIPLY = 3,
  DIVIDE = 4
}

struct Work {
  1: i32 num1 = 0,
  2: i32 num2,
  3: Operation op,
  4: optional string comment,
}

/* Thrown by calculate: unknown operation, division by zero, i32 overflow. */
exception InvalidOperation {
  1: i32 whatOp,
  2: string why
}

/* What calculate logged for a logid; see getStruct. */
struct SharedStruct {
  1: i32 key
  2: string value
}

service SharedService {
  /* The result of the last successful calculate with logid == key.
     Unknown keys get a TApplicationException. */
  SharedStruct getStruct(1: i32 key)
}

service CalculatorService extends SharedService {
  /* i32 overflow gets a TApplicationException, never a wrapped number. */
  i32 add(1: i32 a, 2: i32 b),
  i32 subtract(1: i32 a, 2: i32 b),

  void ping(),
  i32 calculate(1: i32 logid, 2: Work w) throws (1: InvalidOperation ouch),
  oneway void zip()
}

/* The Apache Thrift tutorial's name for the same service. */
service Calculator extends CalculatorService {
}
