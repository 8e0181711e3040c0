// Benchmarks: `bench/run NAME` builds and runs one. Each ends with key=value lines.
using Functional.Bench;

var name = args.FirstOrDefault() ?? "";
switch (name)
{
    case "grad-memory": GradMemory.Run(); break;
    case "remat": Remat.Run(); break;
    case "remat-child": Remat.RunChild(args.Skip(1).ToArray()); break;
    case "fit": FitSpeed.Run(); break;
    case "fit-child": FitSpeed.RunChild(args.Skip(1).ToArray()); break;
    default:
        Console.Error.WriteLine("usage: bench/run grad-memory | remat | fit");
        return 2;
}
return 0;
