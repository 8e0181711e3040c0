// A GAN on a 2-D toy distribution, trained with a hand-written loop and two gradient tapes:
// one forward pass per step, then each player's gradient of its own loss for its own
// parameters. Real points lie on a ring of radius 2; the sliced Wasserstein distance between
// generated and real samples shows the generator learning.
// Run: dotnet run --project examples/CSharpGan -- --steps 1500
using Functional.Autodiff;
using Functional.Layers;
using Functional.Losses;
using Functional.Optimizers;
using Functional.Trees;
using TorchSharp;
using static TorchSharp.torch;

int steps = Array.IndexOf(args, "--steps") is var i and >= 0 ? int.Parse(args[i + 1]) : 1500;
const int Batch = 128;
torch.manual_seed(0);
using var rng = new torch.Generator(0);

Tensor RealSamples(int n)
{
    var angle = torch.rand(n, generator: rng) * (2 * Math.PI);
    var radius = 2 + 0.1 * torch.randn(n, generator: rng);
    return torch.stack([radius * angle.cos(), radius * angle.sin()], 1);
}

var generator = new Sequential(new Dense(32, ActivationFunction.Relu), new Dense(32, ActivationFunction.Relu), new Dense(2));
var discriminator = new Sequential(new Dense(32, ActivationFunction.Relu), new Dense(32, ActivationFunction.Relu), new Dense(1));
var g = generator.Init(rng, [2]).Params;
var d = discriminator.Init(rng, [2]).Params;
var (gOptimizer, dOptimizer) = (Optimizer.Adam(1e-3, beta1: 0.5), Optimizer.Adam(1e-3, beta1: 0.5));
var (gState, dState) = (gOptimizer.Init(g), dOptimizer.Init(d));
var bce = Loss.BinaryCrossEntropy(fromLogits: true);

Tensor Generate(TensorTree parameters, int n) =>
    generator.Apply(new Variables(parameters, TensorTree.Empty), torch.randn(n, 2, generator: rng), ApplyContext.Inference).Output;
Tensor Discriminate(TensorTree parameters, Tensor x) =>
    discriminator.Apply(new Variables(parameters, TensorTree.Empty), x, ApplyContext.Inference).Output;

// Sliced Wasserstein-1: mean over random directions of the 1-D distance between sorted projections.
double Distance(Tensor a, Tensor b)
{
    using var scope = torch.NewDisposeScope();
    using var directions = torch.nn.functional.normalize(torch.randn(2, 64, generator: rng), dim: 0);
    var pa = a.matmul(directions).sort(0).Values;
    var pb = b.matmul(directions).sort(0).Values;
    return (pa - pb).abs().mean().item<float>();
}

double startDistance;
using (torch.no_grad()) startDistance = Distance(Generate(g, 2000), RealSamples(2000));
Console.WriteLine($"step    0  distance {startDistance:F3}");

for (int step = 1; step <= steps; step++)
{
    using var scope = torch.NewDisposeScope();
    using var genTape = new GradientTape();
    using var discTape = new GradientTape();
    genTape.Watch(g);
    discTape.Watch(d);
    // One forward pass serves both players.
    var fake = Generate(g, Batch);
    var realLogits = Discriminate(d, RealSamples(Batch));
    var fakeLogits = Discriminate(d, fake);
    var genLoss = bce.Invoke(fakeLogits, torch.ones_like(fakeLogits));
    var discLoss = bce.Invoke(realLogits, torch.ones_like(realLogits)) + bce.Invoke(fakeLogits, torch.zeros_like(fakeLogits));
    genTape.StopRecording();
    discTape.StopRecording();
    var gGrad = genTape.Gradient(genLoss, g);
    var dGrad = discTape.Gradient(discLoss, d);

    // Pure updates: the new parameters and optimizer states leave the scope; the old ones are ours to free.
    var old = new[] { g, d, gState, dState };
    (var gUpdates, gState) = gOptimizer.Update(gGrad, gState, g);
    (var dUpdates, dState) = dOptimizer.Update(dGrad, dState, d);
    g = Optimizer.ApplyUpdates(g, gUpdates);
    d = Optimizer.ApplyUpdates(d, dUpdates);
    scope.MoveToOuter([.. g.Leaves, .. d.Leaves, .. gState.Leaves, .. dState.Leaves]);
    foreach (var tree in old) tree.Dispose();
    if (step % 500 == 0)
        using (torch.no_grad())
            Console.WriteLine($"step {step,4}  distance {Distance(Generate(g, 2000), RealSamples(2000)):F3}  d_loss {discLoss.item<float>():F3}  g_loss {genLoss.item<float>():F3}");
}

double finalDistance;
using (torch.no_grad()) finalDistance = Distance(Generate(g, 2000), RealSamples(2000));
Console.WriteLine($"start_distance={startDistance:F4}");
Console.WriteLine($"final_distance={finalDistance:F4}");
