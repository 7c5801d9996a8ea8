"""The smallest table the app serves, shared by tests and benchmarks."""

SAMPLE_CSV = b"ID,first_num,second_num\n1,1,2\n2,3,4\n3,5,6\n"
