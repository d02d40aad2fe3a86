#!/usr/bin/perl
# calcd interop client over TLS: perl_client.pl with libthrift-perl's
# Thrift::SSLSocket (IO::Socket::SSL) where it makes its Thrift::Socket.
#
# usage: perl perl_tls_client.pl GEN_PERL_DIR HOST PORT TRANSPORT PROTOCOL LOGID [MODE]
#   as perl_client.pl; the TLS settings come from the environment:
#   CALCD_TLS_CA     PEM file of the CA that signed calcd's certificate (required)
#   CALCD_TLS_CERT   the client's certificate, for mutual TLS (with CALCD_TLS_KEY)
#   CALCD_TLS_KEY    its key
use strict;
use warnings;
use File::Basename qw(dirname);
use File::Spec;

require Thrift::Socket;
require Thrift::SSLSocket;

my $ca = $ENV{CALCD_TLS_CA};
if (!defined $ca || $ca eq '') {
    print "FAIL: CALCD_TLS_CA is not set\n";
    exit 2;
}
my %tls = (ca => $ca);
if (defined $ENV{CALCD_TLS_CERT} && $ENV{CALCD_TLS_CERT} ne '') {
    $tls{cert} = $ENV{CALCD_TLS_CERT};
    $tls{key}  = $ENV{CALCD_TLS_KEY};
}

# Thrift::Socket->new($host, $port) makes a Thrift::SSLSocket instead; the
# SSLSocket's own constructor (SUPER::new) gets the real one.
my $plain_new = \&Thrift::Socket::new;
{
    no warnings 'redefine';
    *Thrift::Socket::new = sub {
        my ($class, @args) = @_;
        return $plain_new->($class, @args) unless $class eq 'Thrift::Socket';
        my ($host, $port) = @args;
        return Thrift::SSLSocket->new({host => $host, port => $port, %tls});
    };
}

# perl_client.pl ends with exit: do returns only if it could not run.
my $client = File::Spec->catfile(dirname(File::Spec->rel2abs(__FILE__)), 'perl_client.pl');
do $client;
print $@ ? "FAIL: $@" : "FAIL: cannot run $client: $!\n";
exit 1;
