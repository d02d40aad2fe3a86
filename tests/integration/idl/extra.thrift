/*
 * A client-side IDL for the integration tests only: CalculatorService
 * with a method calcd does not serve, to see UNKNOWN_METHOD come back.
 */
namespace py itest.extra

service CalculatorService {
  i32 add(1: i32 a, 2: i32 b),
  i32 multiply(1: i32 a, 2: i32 b),
}
