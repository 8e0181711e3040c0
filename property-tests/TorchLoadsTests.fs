/// TorchSharp's native library must load on this OS from a clean clone (the build patches it).
module Functional.PropertyTests.TorchLoadsTests

open Expecto
open TorchSharp
open Support

let tests =
    testList
        "torch loads"
        [
            testCase "libtorch computes a matrix product and its gradient"
            <| fun () ->
                scoped (fun () ->
                    let a =
                        torch.tensor([| 1.0; 2.0; 3.0; 4.0 |], dtype = torch.float64).reshape(2L, 2L)

                    let b =
                        torch.tensor([| 5.0; 6.0; 7.0; 8.0 |], dtype = torch.float64).reshape(2L, 2L)

                    expectClose
                        "a @ b"
                        0.0
                        (a.matmul b)
                        (torch.tensor([| 19.0; 22.0; 43.0; 50.0 |], dtype = torch.float64).reshape(2L, 2L))

                    let x = a.detach().requires_grad_ true
                    (x.matmul b).sum().backward()
                    // d/dx sum(x @ b) = ones @ b^T: each row is the row sums of b.
                    expectClose
                        "gradient"
                        0.0
                        x.grad
                        (torch.tensor([| 11.0; 15.0; 11.0; 15.0 |], dtype = torch.float64).reshape(2L, 2L)))
        ]
