/* The reference for `bench/run distributed`: MPI_Allreduce (in place, float32 sum) timed per
 * buffer size, as a C program calls it. bench/run builds it with mpicc; the benchmark runs it and
 * Communicator.AllReduceInPlace on the same sizes, round after round.
 * Usage: allreduce SCALE SIZE... (prints seconds_SIZE=seconds per call on rank 0; SCALE
 * multiplies the calls per size, for timing beside a busy process). */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>

/* Calls per size: about 2e8 elements' worth, 5 to 20,000, times SCALE (the C# side uses the same rule). */
static int repeats_for(long n, int scale) {
  long r = 200000000L / n;
  return scale * (int)(r < 5 ? 5 : r > 20000 ? 20000 : r);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rank;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  /* A pass over every size first, as the C# side makes for its JIT; then the timed pass. */
  int scale = atoi(argv[1]);
  for (int timed = 0; timed < 2; timed++)
    for (int a = 2; a < argc; a++) {
      long n = atol(argv[a]);
      float *buffer = calloc((size_t)n, sizeof(float));
      int repeats = repeats_for(n, scale);
      MPI_Barrier(MPI_COMM_WORLD);
      double start = MPI_Wtime();
      for (int r = 0; r < repeats; r++)
        MPI_Allreduce(MPI_IN_PLACE, buffer, (int)n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
      double seconds = (MPI_Wtime() - start) / repeats;
      if (timed && rank == 0) printf("seconds_%ld=%.9g\n", n, seconds);
      free(buffer);
    }
  MPI_Finalize();
  return 0;
}
