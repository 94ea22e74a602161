#include <sodium.h>
#include <stdio.h>
#include <time.h>
static double now(void){struct timespec t;clock_gettime(CLOCK_PROCESS_CPUTIME_ID,&t);return t.tv_sec*1e6+t.tv_nsec/1e3;}
int main(void){
  if (sodium_init()<0) return 1;
  unsigned char pk[32], sk[64], msg[200], sig[64], key[32], mac[32];
  crypto_sign_keypair(pk,sk); randombytes_buf(msg,sizeof msg); randombytes_buf(key,32);
  int N=4000; double t0=now();
  for(int i=0;i<N;i++){msg[0]=i; crypto_sign_detached(sig,NULL,msg,sizeof msg,sk);}
  double t1=now();
  for(int i=0;i<N;i++){ if(crypto_sign_verify_detached(sig,msg,sizeof msg,pk)!=0 && i==-1) return 2;}
  double t2=now();
  for(int i=0;i<N*10;i++){msg[1]=i; crypto_generichash(mac,32,msg,sizeof msg,key,32);}
  double t3=now();
  printf("ed25519 sign %.1f us, verify %.1f us, blake2b-mac(200B) %.2f us\n",(t1-t0)/N,(t2-t1)/N,(t3-t2)/(N*10));
}
