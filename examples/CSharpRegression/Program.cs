// Fits y = 3 x1 - 2 x2 + 0.5 (plus noise) with a two-layer network written as a pure
// function of a parameter tree, its gradient from Transforms.ValueAndGrad, and a hand-written
// gradient-descent update. Run: dotnet run --project examples/CSharpRegression -- --steps 400
using Functional.Autodiff;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

int steps = args.Length == 2 && args[0] == "--steps" ? int.Parse(args[1]) : 400;
const double learningRate = 0.1;
torch.manual_seed(0);

// Data: 256 points, two features.
var x = torch.randn(256, 2);
var y = (3 * x[.., 0] - 2 * x[.., 1] + 0.5 + 0.01 * torch.randn(256)).unsqueeze(1);

// Parameters: a tree of tensors addressed by paths.
var parameters = TensorTree.Of(
    ("hidden/kernel", torch.randn(2, 16) * 0.5), ("hidden/bias", torch.zeros(16)),
    ("output/kernel", torch.randn(16, 1) * 0.5), ("output/bias", torch.zeros(1)));

// The model and the loss are plain functions of the parameters.
Tensor Predict(TensorTree p, Tensor input) =>
    torch.tanh(input.matmul(p["hidden/kernel"]) + p["hidden/bias"]).matmul(p["output/kernel"]) + p["output/bias"];
Tensor Loss(TensorTree p) => (Predict(p, x) - y).pow(2).mean();

var valueAndGrad = Transforms.ValueAndGrad(Loss);
double initialLoss = 0, loss = 0;
for (int step = 0; step < steps; step++)
{
    using var scope = torch.NewDisposeScope();
    var (value, gradient) = valueAndGrad(parameters);
    loss = value.item<float>();
    if (step == 0) initialLoss = loss;
    // p <- p - lr * g; the new tree leaves the scope, the old one is disposed with it.
    var updated = parameters.Zip(gradient, (p, g) => p - learningRate * g).MoveToOuterDisposeScope();
    parameters.Dispose();
    parameters = updated;
    if (step % 100 == 0) Console.WriteLine($"step {step,4}  loss {loss:F5}");
}
Console.WriteLine($"step {steps,4}  loss {loss:F5}");
Console.WriteLine($"initial_loss={initialLoss:G6}");
Console.WriteLine($"final_loss={loss:G6}");
